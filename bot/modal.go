package bot

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/commands"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

// The deploy form: its callback id, and the block and action ids of its
// fields. A field's block id is what response_action "errors" names.
const (
	formCallbackID = "deploy_form"
	formApp        = "app"
	formEnv        = "env"
	formVersion    = "version"
	formCheck      = "check"
)

// RenderForm renders the modal that /deploy without text opens: app, env
// and version, and a dry-run checkbox. channel (where the command was
// typed) travels in private_metadata. Apps and environments are selects
// when they fit Slack's 100 options, text inputs otherwise. Choosing an app
// updates the form (RenderFormFor) so that only its environments are
// offered.
func RenderForm(conf *config.Config, channel string) slack.ModalViewRequest {
	return RenderFormFor(conf, channel, "")
}

// RenderFormFor renders the form with app chosen ("" for none): the
// environment select then lists that app's environments only.
func RenderFormFor(conf *config.Config, channel, app string) slack.ModalViewRequest {
	apps := conf.AppNames()
	var envs []string
	if a := conf.Apps[app]; a != nil {
		envs = a.EnvNames()
	} else {
		app = ""
		envSet := map[string]bool{}
		for _, a := range conf.Apps {
			for e := range a.Environments {
				envSet[e] = true
			}
		}
		for e := range envSet {
			envs = append(envs, e)
		}
		sort.Strings(envs)
	}

	appField := choice(formApp, "Choose an app", apps)
	if sel, ok := appField.(*slack.SelectBlockElement); ok && app != "" {
		sel.InitialOption = slack.NewOptionBlockObject(app, plain(app, maxOptionText), nil)
	}
	appBlock := slack.NewInputBlock(formApp, plain("App", 2000), nil, appField)
	// A chosen app is sent at once (block_actions) to narrow the
	// environments; a typed one is only read on submission.
	_, appBlock.DispatchAction = appField.(*slack.SelectBlockElement)

	version := slack.NewPlainTextInputBlockElement(plain("e.g. 1.4.2", maxOptionText), formVersion)
	check := slack.NewCheckboxGroupsBlockElement(formCheck,
		slack.NewOptionBlockObject("yes", plain("Dry run first (--check)", maxOptionText), nil))
	checkBlock := slack.NewInputBlock(formCheck, plain("Dry run", 2000), nil, check)
	checkBlock.Optional = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      formCallbackID,
		Title:           plain("Request a release", 24),
		Submit:          plain("Request", 24),
		Close:           plain("Cancel", 24),
		PrivateMetadata: clip(channel, 3000, ""),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			appBlock,
			// The env block id changes with the app, so that Slack
			// drops a choice made for another app.
			slack.NewInputBlock(envBlockID(app), plain("Environment", 2000), nil, choice(formEnv, "Choose an environment", envs)),
			slack.NewInputBlock(formVersion, plain("Version", 2000), plain("The build to release, as named on the build server.", 2000), version),
			checkBlock,
		}},
	}
}

// envBlockID is the block id of the environment field for app.
func envBlockID(app string) string {
	if app == "" {
		return formEnv
	}
	return clip(formEnv+"-"+app, 255, "")
}

// choice is a static select of names, or a text input when they do not
// fit a select (more than 100, or names longer than an option allows).
func choice(actionID, placeholder string, names []string) slack.BlockElement {
	fits := len(names) > 0 && len(names) <= maxOptions
	for _, n := range names {
		if len([]rune(n)) > maxOptionText || len(n) > maxOptionValue {
			fits = false
		}
	}
	if !fits {
		return slack.NewPlainTextInputBlockElement(plain(placeholder, maxOptionText), actionID)
	}
	opts := make([]*slack.OptionBlockObject, 0, len(names))
	for _, n := range names {
		opts = append(opts, slack.NewOptionBlockObject(n, plain(n, maxOptionText), nil))
	}
	return slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain(placeholder, maxOptionText), actionID, opts...)
}

// cmdForm opens the form. The trigger id is valid for 3 s from the
// command, so this is done first and once.
func (b *Bot) cmdForm(ctx context.Context, in *slashInput) {
	if err := b.gw.OpenView(ctx, in.TriggerID, RenderForm(b.conf.Load(), in.Channel)); err != nil {
		in.log.Warn().Err(err).Msg("open form")
		b.replyTo(ctx, in, RenderRefusal("The form could not be opened in time. Type `/deploy <app> <env> <version>` instead, or try again."))
	}
}

// formValue reads one field of a submitted form: the selected option or
// the typed text. The field's block id is found by prefix, since the env
// block's id carries the chosen app.
func formValue(cb *slack.InteractionCallback, block string) string {
	if cb.View.State == nil {
		return ""
	}
	v, ok := cb.View.State.Values[block][block]
	if !ok {
		for id, actions := range cb.View.State.Values {
			if strings.HasPrefix(id, block+"-") {
				v, ok = actions[block]
			}
		}
	}
	if !ok {
		return ""
	}
	if v.SelectedOption.Value != "" {
		return strings.TrimSpace(v.SelectedOption.Value)
	}
	return strings.TrimSpace(v.Value)
}

// appChosen narrows the form's environments to those of the app just
// chosen (block_actions from the app select, with dispatch_action).
func (b *Bot) appChosen(ctx context.Context, in *clickInput) {
	if in.ViewID == "" {
		return
	}
	view := RenderFormFor(b.conf.Load(), in.ViewChannel, in.Value)
	if err := b.gw.UpdateView(ctx, view, in.ViewID, in.ViewHash); err != nil {
		in.log.Warn().Err(err).Msg("narrow the form's environments")
	}
}

// submitForm checks the form synchronously (no I/O: the answer must be in
// the ack) and either keeps the modal open with errors under the fields
// that are wrong, or closes it and requests the release.
func (b *Bot) submitForm(cb *slack.InteractionCallback, log zerolog.Logger) decision {
	conf := b.conf.Load()
	appName := strings.ToLower(formValue(cb, formApp))
	envName := strings.ToLower(formValue(cb, formEnv))
	version := formValue(cb, formVersion)
	check := cb.View.State != nil && len(cb.View.State.Values[formCheck][formCheck].SelectedOptions) > 0
	channel := cb.View.PrivateMetadata
	if _, refused := commandRefusal(conf, channel, "", ""); refused {
		// The form carries the channel it was opened from; the policy
		// may have changed since, and the release would go there.
		log.Info().Str("channel", channel).Msg("form refused by the channel policy")
		return decision{ack: viewErrors(map[string]string{formVersion: "This form was opened where deploybot is not used (now); nothing was done. Close it and use /deploy in a deploy channel."})}
	}
	errs := validateForm(conf, appName, envName, version)
	if msg, ok := errs[formEnv]; ok {
		// Name the env block as the form shows it.
		delete(errs, formEnv)
		errs[envFieldID(cb)] = msg
	}
	if len(errs) > 0 {
		return decision{ack: viewErrors(errs)}
	}
	user := cb.User.ID
	log = log.With().Str("app", appName).Str("env", envName).Logger()
	return decision{
		busyAck: viewErrors(map[string]string{formVersion: busyText}),
		work: func(ctx context.Context) {
			_, err := b.d.RequestDeploy(ctx, deploy.DeployInput{
				User: user, Channel: channel, App: appName, Env: envName, Version: version, Check: check,
			})
			if err != nil {
				b.fail(ctx, log, "", channel, user, err)
			}
		},
	}
}

// envFieldID is the block id of the env field in the submitted view.
func envFieldID(cb *slack.InteractionCallback) string {
	if cb.View.State == nil {
		return formEnv
	}
	for id := range cb.View.State.Values {
		if id == formEnv || strings.HasPrefix(id, formEnv+"-") {
			return id
		}
	}
	return formEnv
}

// validateForm returns an error message per wrong field, keyed by block id.
func validateForm(conf *config.Config, appName, envName, version string) map[string]string {
	errs := map[string]string{}
	app := conf.Apps[appName]
	switch {
	case appName == "":
		errs[formApp] = "Choose an app."
	case app == nil:
		errs[formApp] = clip(fmt.Sprintf("There is no app %q. Apps: %s.", appName, strings.Join(conf.AppNames(), ", ")), 2000, "")
	}
	if app != nil {
		switch {
		case envName == "":
			errs[formEnv] = "Choose an environment."
		case app.Environments[envName] == nil:
			errs[formEnv] = clip(fmt.Sprintf("%s has no environment %q. It has: %s.", appName, envName, strings.Join(app.EnvNames(), ", ")), 2000, "")
		}
	}
	switch {
	case version == "":
		errs[formVersion] = "Enter a version."
	case !commands.ValidVersion(version):
		errs[formVersion] = "A version is letters, digits, dots, dashes, underscores and pluses, starting with a letter or digit."
	case app != nil && app.VersionRE != nil && !app.VersionRE.MatchString(version):
		errs[formVersion] = clip(fmt.Sprintf("%s versions must match %s.", appName, app.VersionPattern), 2000, "")
	}
	return errs
}
