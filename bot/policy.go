package bot

import (
	"strings"

	"github.com/deploybot/deploybot/commands"
	"github.com/deploybot/deploybot/config"
)

// The channel policy. Every slash command and every click goes through it
// before any work, in the same way:
//
//   - In a channel of slack.channels (every channel when the list is
//     empty) every command and button works. Buttons also work in
//     slack.announce_channel, where the bot posts schedule buttons.
//   - In any other channel nothing works: the answer names the channels.
//   - In a direct message (or a group DM) nothing works unless
//     slack.allow_dm is true, and then only the read-only commands
//     (commands.ReadOnly). Nothing that changes state, nor a button, is
//     ever taken from a direct message: a release must be asked for and
//     approved where the team sees its card.

// isDirect reports whether a conversation is a direct message or a group
// DM: an IM ID starts with D; Slack names the conversation
// "directmessage" in a slash command from an IM and "mpdm-…" for a group
// DM (whose ID starts with G or C like a private channel's).
func isDirect(channelID, channelName string) bool {
	return config.IsDirectMessage(channelID) || channelName == "directmessage" || strings.HasPrefix(channelName, "mpdm-")
}

// listed reports whether channel is one where the bot is used (every
// channel when the list is empty); clicks also count the announce channel.
func listed(conf *config.Config, channel string, click bool) bool {
	if conf == nil {
		return false
	}
	if click && channel != "" && channel == conf.Slack.AnnounceChannel {
		return true
	}
	return conf.ChannelAllowed(channel)
}

// commandRefusal says why command text may not be used in a conversation,
// or ok=false when it may. A text the parser cannot read is let through in
// a direct message that allows commands: its answer is the usage.
func commandRefusal(conf *config.Config, channelID, channelName, text string) (Message, bool) {
	if conf == nil {
		return RenderRefusal("deploybot has no configuration loaded; nothing was done."), true
	}
	if isDirect(channelID, channelName) {
		if !conf.Slack.AllowDM {
			return RenderRefusal("deploybot takes no commands in direct messages. " + useIn(conf)), true
		}
		cmd, err := commands.Parse(text)
		if err != nil || commands.ReadOnly(cmd.Name()) {
			return Message{}, false
		}
		why := "changes what runs"
		if cmd.Name() == "audit" {
			why = "posts the audit trail as a file in a thread"
		}
		return RenderRefusal("`/deploy " + cmd.Name() + "` " + why + ", so it is used in a channel where the team sees it. " +
			useIn(conf) + " Here: status, history, apps, schedules and help."), true
	}
	if !listed(conf, channelID, false) {
		return RenderRefusal("deploybot is not used in this channel; nothing was done. " + useIn(conf)), true
	}
	return Message{}, false
}

// clickRefusal says why a button may not be used in a conversation, or
// ok=false when it may.
func clickRefusal(conf *config.Config, channelID, channelName string) (Message, bool) {
	if conf == nil {
		return RenderRefusal("deploybot has no configuration loaded; nothing was done."), true
	}
	if isDirect(channelID, channelName) || channelID == "" || !listed(conf, channelID, true) {
		return RenderRefusal("This button does not work here; nothing was done. " + useIn(conf)), true
	}
	return Message{}, false
}

// useIn names where deploybot is used.
func useIn(conf *config.Config) string {
	if len(conf.Slack.Channels) == 0 {
		return "Use it in a channel."
	}
	chans := make([]string, 0, len(conf.Slack.Channels))
	for _, c := range conf.Slack.Channels {
		chans = append(chans, "<#"+c+">")
	}
	return "Use it in " + strings.Join(chans, ", ") + "."
}
