// Package deploytest holds test doubles for the ports of package deploy: a
// scripted Runner, a recording Notifier, a settable Clock and a static
// Directory. They keep everything in memory and are safe for concurrent use.
// The Notifier records each deploy.Note with its text as the bot words it
// (bot.RenderNote), so tests read what users would read.
package deploytest
