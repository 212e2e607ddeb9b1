package commands

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// canon makes commands comparable with reflect.DeepEqual: a time's location
// pointer depends on the process's Local zone, its instant does not.
func canon(c Command) Command {
	if s, ok := c.(Schedule); ok && !s.AtTime.IsZero() {
		s.AtTime = s.AtTime.UTC()
		return s
	}
	return c
}

func TestParse(t *testing.T) {
	paris := time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		want    Command
		wantErr string // substring of Error(); "" means success
	}{
		// The empty command and help.
		{"empty opens form", "", OpenForm{}, ""},
		{"blank opens form", "  \t\n ", OpenForm{}, ""},
		{"nbsp only opens form", "\u00a0", OpenForm{}, ""},
		{"help", "help", Help{}, ""},
		{"help upper case", "HELP", Help{}, ""},
		{"help topic", "help Schedule", Help{Topic: "schedule"}, ""},
		{"help deploy", "help deploy", Help{Topic: "deploy"}, ""},
		{"help flag on command", "rollback --help", Help{Topic: "rollback"}, ""},
		{"help flag on deploy form", "shop-web -h", Help{Topic: "deploy"}, ""},
		{"help flag on lock", "lock shop-web prod --help", Help{Topic: "lock"}, ""},
		{"help flag first on lock", "lock --help", Help{Topic: "lock"}, ""},
		{"help unknown topic", "help frobnicate", nil, `there is no command "frobnicate"`},
		{"help typo topic", "help stauts", nil, `did you mean "status"`},
		{"help two topics", "help lock unlock", nil, `unexpected argument "unlock"`},

		// Deploy.
		{"deploy", "shop-web production 1.4.2", Deploy{App: "shop-web", Env: "production", Version: "1.4.2"}, ""},
		{"deploy check", "shop-web production 1.4.2 --check", Deploy{App: "shop-web", Env: "production", Version: "1.4.2", Check: true}, ""},
		{"deploy check first", "--check shop-web production 1.4.2", Deploy{App: "shop-web", Env: "production", Version: "1.4.2", Check: true}, ""},
		{"deploy check middle", "shop-web --check production 1.4.2", Deploy{App: "shop-web", Env: "production", Version: "1.4.2", Check: true}, ""},
		{"deploy em dash check", "shop-web production 1.4.2 \u2014check", Deploy{App: "shop-web", Env: "production", Version: "1.4.2", Check: true}, ""},
		{"deploy en dash check", "shop-web production 1.4.2 \u2013check", Deploy{App: "shop-web", Env: "production", Version: "1.4.2", Check: true}, ""},
		{"deploy kelvin sign not folded", "\u212aube prod 1", nil, "invalid app name \"\u212aube\""},
		{"deploy folds names", "Shop-Web PRODUCTION 1.4.2-RC1", Deploy{App: "shop-web", Env: "production", Version: "1.4.2-RC1"}, ""},
		{"deploy semver build", "api staging 2.0.0+build.7~b", Deploy{App: "api", Env: "staging", Version: "2.0.0+build.7~b"}, ""},
		{"deploy quoted", `"shop-web" 'production' "1.4.2"`, Deploy{App: "shop-web", Env: "production", Version: "1.4.2"}, ""},
		{"deploy smart quotes", "\u201cshop-web\u201d \u2018production\u2019 1.4.2", Deploy{App: "shop-web", Env: "production", Version: "1.4.2"}, ""},
		{"deploy extra spaces and newline", "  shop-web \t production\n1.4.2  ", Deploy{App: "shop-web", Env: "production", Version: "1.4.2"}, ""},
		{"deploy app named deploy", "deploy prod 1", Deploy{App: "deploy", Env: "prod", Version: "1"}, ""},
		{"deploy version named like a command", "shop prod status", Deploy{App: "shop", Env: "prod", Version: "status"}, ""},
		{"deploy missing env", "shop-web", nil, "missing <env>"},
		{"deploy missing version", "shop-web production", nil, "missing <version>"},
		{"deploy only flag", "--check", nil, "missing <app>"},
		{"deploy extra argument", "shop-web production 1.4.2 now", nil, `unexpected argument "now"`},
		{"deploy with word deploy", "deploy shop-web production 1.4.2", nil, `leave out the word "deploy"`},
		{"deploy unknown flag", "shop-web production 1.4.2 --force", nil, `unknown flag "--force"`},
		{"deploy single dash flag", "shop-web production 1.4.2 -f", nil, `unknown flag "-f"`},
		{"deploy check twice", "shop-web production 1.4.2 --check --check", nil, "--check is given twice"},
		{"deploy check with value", "shop-web production 1.4.2 --check=yes", nil, "--check takes no value"},
		{"deploy check usage", "shop-web production", nil, "usage:\n/deploy <app> <env> <version> [--check]"},
		{"deploy bad app", "shop_web! production 1.4.2", nil, `invalid app name "shop_web!"`},
		{"deploy app starts with dot", ".hidden production 1.4.2", nil, `invalid app name ".hidden"`},
		{"deploy app too long", strings.Repeat("a", 64) + " prod 1", nil, "invalid app name"},
		{"deploy app max length", strings.Repeat("a", 63) + " prod 1", Deploy{App: strings.Repeat("a", 63), Env: "prod", Version: "1"}, ""},
		{"deploy bad env", "shop-web prod/eu 1.4.2", nil, `invalid env name "prod/eu"`},
		{"deploy version too long", "shop prod " + strings.Repeat("1", 129), nil, "invalid version"},
		{"deploy version slash", "shop prod ../../etc/passwd", nil, `invalid version "../../etc/passwd"`},
		{"deploy version dollar", "shop prod '1.0$HOME'", nil, `invalid version "1.0$HOME"`},
		{"deploy version command substitution", "shop prod $(id)", nil, `invalid version "$(id)"`},
		{"deploy version backticks", "shop prod `id`", nil, "invalid version \"`id`\""},
		{"deploy version quoted semicolon", "shop prod '1;reboot'", nil, `invalid version "1;reboot"`},
		{"deploy version quoted space", `shop prod "1 2"`, nil, `invalid version "1 2"`},
		{"deploy version newline escape", `shop prod "1\n2"`, nil, `invalid version "1\n2"`},
		{"deploy version leading dot", "shop prod .1", nil, `invalid version ".1"`},
		{"deploy version empty quotes", `shop prod ""`, nil, `invalid version ""`},
		{"deploy semicolon", "shop prod 1.0; rm -rf /", nil, `unexpected ';'`},
		{"deploy ampersand", "shop prod 1.0 && reboot", nil, `unexpected '&'`},
		{"deploy slack escaped ampersand", "shop prod 1.0 &amp;&amp; reboot", nil, `unexpected '&'`},
		{"deploy pipe", "shop prod 1.0|cat", nil, `unexpected '|'`},
		{"deploy redirect", "shop prod 1.0 > /tmp/x", nil, `unexpected '>'`},
		{"deploy slack escaped redirect", "shop prod 1.0 &gt; /tmp/x", nil, `unexpected '>'`},
		{"deploy unclosed quote", `shop prod "1.0`, nil, "a quote is not closed"},
		{"deploy parenthesis", "shop prod (1.0)", nil, "a quote is not closed, or a ( )"},
		{"deploy control character", "shop prod 1.0\x00", nil, "control character (U+0000)"},
		{"deploy escape character", "shop prod 1.0\x1b[31m", nil, "control character (U+001B)"},
		{"deploy bidi override", "shop prod 1.0\u202e", nil, "control character (U+202E)"},
		{"deploy invalid utf8", "shop prod \xff", nil, "not valid UTF-8"},
		{"deploy too long", "shop prod " + strings.Repeat("1", 2000), nil, "too long"},
		{"deploy typo of command", "stauts shop-web", nil, `unknown command "stauts"; did you mean "status"?`},
		{"deploy typo usage fits", "histroy shop-web prod x y", nil, "usage:\n/deploy history <app> [<env>]"},
		{"deploy reserved app elsewhere", "status lock", nil, `"lock" is a command, not an app name`},

		// Rollback.
		{"rollback", "rollback shop-web production", Rollback{App: "shop-web", Env: "production"}, ""},
		{"rollback upper", "ROLLBACK shop-web production", Rollback{App: "shop-web", Env: "production"}, ""},
		{"rollback to", "rollback shop-web production --to 1.4.1", Rollback{App: "shop-web", Env: "production", Release: "1.4.1"}, ""},
		{"rollback to equals", "rollback shop-web production --to=#42", Rollback{App: "shop-web", Env: "production", Release: "42"}, ""},
		{"rollback to first", "rollback --to 42 shop-web production", Rollback{App: "shop-web", Env: "production", Release: "42"}, ""},
		{"rollback to missing value", "rollback shop-web production --to", nil, "--to needs a value"},
		{"rollback to empty value", "rollback shop-web production --to=", nil, "--to needs a value"},
		{"rollback to flag as value", "rollback shop-web production --to --check", nil, "--to needs a value"},
		{"rollback to bad", "rollback shop-web production --to ../x", nil, `invalid release "../x"`},
		{"rollback check refused", "rollback shop-web production --check", nil, `unknown flag "--check"`},
		{"rollback missing env", "rollback shop-web", nil, "missing <env>"},
		{"rollback missing usage", "rollback", nil, "missing <app>\nusage:\n/deploy rollback <app> <env> [--to <id>]"},
		{"rollback extra", "rollback shop-web production 1.4.1", nil, `unexpected argument "1.4.1"`},

		// Status and history.
		{"status all", "status", Status{}, ""},
		{"status app", "status shop-web", Status{App: "shop-web"}, ""},
		{"status app env", "Status Shop-Web Production", Status{App: "shop-web", Env: "production"}, ""},
		{"status extra", "status a b c", nil, `unexpected argument "c"`},
		{"status bad app", "status 'a b'", nil, `invalid app name "a b"`},
		{"status empty app", `status ""`, nil, `invalid app name ""`},
		{"history app", "history shop-web", History{App: "shop-web"}, ""},
		{"history app env", "history shop-web staging", History{App: "shop-web", Env: "staging"}, ""},
		{"history missing app", "history", nil, "missing <app>\nusage:\n/deploy history <app> [<env>]"},

		// Ids.
		{"log", "log 123", Log{ID: "123"}, ""},
		{"log hash", "log #123", Log{ID: "123"}, ""},
		{"log leading zeros", "log 0042", Log{ID: "42"}, ""},
		{"log zero", "log 0", nil, `invalid id "0"`},
		{"log hash only", "log #", nil, `invalid id "#"`},
		{"log negative", "log -1", nil, `unknown flag "-1"`},
		{"log letters", "log R-12", nil, `invalid id "R-12"`},
		{"log too big", "log 1234567890123456789", nil, "invalid id"},
		{"log max", "log 123456789012345678", Log{ID: "123456789012345678"}, ""},
		{"log missing", "log", nil, "missing <id>\nusage:\n/deploy log <id>"},
		{"cancel", "cancel #7", Cancel{ID: "7"}, ""},
		{"cancel extra", "cancel 7 8", nil, `unexpected argument "8"`},
		{"unschedule", "unschedule 3", Unschedule{ID: "3"}, ""},
		{"pause", "pause #3", PauseSchedule{ID: "3"}, ""},
		{"pause schedule word", "pause schedule 3", PauseSchedule{ID: "3"}, ""},
		{"resume", "resume 3", ResumeSchedule{ID: "3"}, ""},
		{"resume schedule word", "Resume Schedule #3", ResumeSchedule{ID: "3"}, ""},
		{"resume missing", "resume", nil, "missing <schedule id>\nusage:\n/deploy resume S<id>"},
		{"unschedule S id", "unschedule S3", Unschedule{ID: "3"}, ""},
		{"pause lower s id", "pause s12", PauseSchedule{ID: "12"}, ""},
		{"resume schedule word S id", "resume schedule S0007", ResumeSchedule{ID: "7"}, ""},
		{"unschedule S alone", "unschedule S", nil, `invalid schedule id "S": a schedule id is S and a number, such as S3`},
		{"unschedule S hash", "unschedule S#3", nil, `invalid schedule id "S#3"`},
		{"cancel schedule id", "cancel S3", nil, `"S3" is a schedule id, not a request id`},
		{"log schedule id", "log s3", nil, `"s3" is a schedule id, not a request id`},

		// Audit.
		{"audit", "audit", Audit{}, ""},
		{"audit app env since", "audit Shop-Web production --since 30d", Audit{App: "shop-web", Env: "production", Since: 30 * 24 * time.Hour}, ""},
		{"audit since first", "audit --since=12h shop-web", Audit{App: "shop-web", Since: 12 * time.Hour}, ""},
		{"audit since weeks", "audit --since 2w", Audit{Since: 14 * 24 * time.Hour}, ""},
		{"audit since go duration", "audit --since 1h30m", Audit{Since: 90 * time.Minute}, ""},
		{"audit since missing value", "audit --since", nil, "--since needs a value"},
		{"audit since words", "audit --since yesterday", nil, `invalid --since "yesterday": write how far back to look, such as 7d`},
		{"audit since zero", "audit --since 0d", nil, `invalid --since "0d"`},
		{"audit since negative", "audit --since=-7d", nil, `invalid --since "-7d"`},
		{"audit since seconds", "audit --since 30s", nil, `invalid --since "30s"`},
		{"audit since too far", "audit --since 3651d", nil, `invalid --since "3651d"`},
		{"audit since overflow", "audit --since 99999999999999999d", nil, `invalid --since`},
		{"audit extra", "audit a b c", nil, `unexpected argument "c"`},
		{"audit reserved", "audit audit", nil, `"audit" is a command, not an app name`},

		// Lock and unlock.
		{"lock", "lock shop-web production", Lock{App: "shop-web", Env: "production"}, ""},
		{"lock reason", "lock shop-web production DB migration, back at 15:00", Lock{App: "shop-web", Env: "production", Reason: "DB migration, back at 15:00"}, ""},
		{"lock reason apostrophe", "lock shop-web production don't deploy", Lock{App: "shop-web", Env: "production", Reason: "don't deploy"}, ""},
		{"lock reason smart apostrophe", "lock shop-web production don\u2019t deploy", Lock{App: "shop-web", Env: "production", Reason: "don't deploy"}, ""},
		{"lock reason quoted", `lock shop-web production "migration  running"`, Lock{App: "shop-web", Env: "production", Reason: "migration running"}, ""},
		{"lock reason smart quoted", "lock shop-web production \u201cmigration\u201d", Lock{App: "shop-web", Env: "production", Reason: "migration"}, ""},
		{"lock reason two quoted words", `lock shop-web production "a" and "b"`, Lock{App: "shop-web", Env: "production", Reason: `"a" and "b"`}, ""},
		{"lock reason shell characters kept", "lock shop-web production a; b &amp; c &lt;d&gt; $(x)", Lock{App: "shop-web", Env: "production", Reason: "a; b & c <d> $(x)"}, ""},
		{"lock reason newlines collapsed", "lock shop-web production line one\n\nline two", Lock{App: "shop-web", Env: "production", Reason: "line one line two"}, ""},
		{"lock reason quoted dash", `lock shop-web production "--not a flag"`, Lock{App: "shop-web", Env: "production", Reason: "--not a flag"}, ""},
		{"lock reason empty quotes", `lock shop-web production ""`, Lock{App: "shop-web", Env: "production"}, ""},
		{"lock quoted names", `LOCK "Shop-Web" 'production' x`, Lock{App: "shop-web", Env: "production", Reason: "x"}, ""},
		{"lock quoted verb", `"lock" shop-web production x`, Lock{App: "shop-web", Env: "production", Reason: "x"}, ""},
		{"lock reason too long", "lock a b " + strings.Repeat("x", 201), nil, "the reason is too long"},
		{"lock reason flag", "lock shop-web production --force", nil, `unknown flag "--force"`},
		{"lock missing env", "lock shop-web", nil, "missing <env>\nusage:\n/deploy lock <app> <env> [reason]"},
		{"lock missing app", "lock", nil, "missing <app>"},
		{"lock bad app", "lock shop;web prod", nil, `cannot read "shop;web"`},
		{"lock reserved app", "lock apps prod", nil, `"apps" is a command, not an app name`},
		{"lock control character", "lock a b \x07", nil, "control character"},
		{"unlock", "unlock shop-web production", Unlock{App: "shop-web", Env: "production"}, ""},
		{"unlock extra", "unlock shop-web production now", nil, `unexpected argument "now"`},

		// Schedules.
		{"schedule cron quoted", `schedule shop-web production 1.4.2 "0 18 * * 1-5"`, Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Cron: "0 18 * * 1-5"}, ""},
		{"schedule cron single quoted", `schedule shop-web production 1.4.2 '*/15 * * * *'`, Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Cron: "*/15 * * * *"}, ""},
		{"schedule cron smart quoted", "schedule shop-web production 1.4.2 \u201c0 18 * * 1-5\u201d", Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Cron: "0 18 * * 1-5"}, ""},
		{"schedule cron unquoted", "schedule shop-web production 1.4.2 0 18 * * MON-FRI", Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Cron: "0 18 * * MON-FRI"}, ""},
		{"schedule descriptor", "schedule shop-web production 1.4.2 @daily", Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Cron: "@daily"}, ""},
		{"schedule every minute", "schedule a b 1 '* * * * *'", Schedule{App: "a", Env: "b", Version: "1", Cron: "* * * * *"}, ""},
		{"schedule cron tz prefix", `schedule shop-web production 1.4.2 "CRON_TZ=Europe/Paris 0 18 * * 1-5"`, Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Cron: "0 18 * * 1-5", TZ: "Europe/Paris"}, ""},
		{"schedule tz prefix", `schedule a b 1 "TZ=America/Argentina/Buenos_Aires @weekly"`, Schedule{App: "a", Env: "b", Version: "1", Cron: "@weekly", TZ: "America/Argentina/Buenos_Aires"}, ""},
		{"schedule tz flag", `schedule a b 1 "0 6 * * *" --tz Asia/Tokyo`, Schedule{App: "a", Env: "b", Version: "1", Cron: "0 6 * * *", TZ: "Asia/Tokyo"}, ""},
		{"schedule missed run_once", `schedule a b 1 "0 6 * * *" --missed run_once`, Schedule{App: "a", Env: "b", Version: "1", Cron: "0 6 * * *", Missed: MissedRunOnce}, ""},
		{"schedule missed skip case", `schedule a b 1 @daily --missed=SKIP --tz UTC`, Schedule{App: "a", Env: "b", Version: "1", Cron: "@daily", TZ: "UTC", Missed: MissedSkip}, ""},
		{"schedule missed bad", `schedule a b 1 @daily --missed always`, nil, "invalid --missed"},
		{"schedule tz flag equals", `schedule a b 1 --tz=Etc/GMT+5 "0 6 * * *"`, Schedule{App: "a", Env: "b", Version: "1", Cron: "0 6 * * *", TZ: "Etc/GMT+5"}, ""},
		{"schedule at wall clock", "schedule a b 1 at 2026-03-01 18:00", Schedule{App: "a", Env: "b", Version: "1", At: "2026-03-01 18:00"}, ""},
		{"schedule at quoted", `schedule a b 1 AT "2026-03-01  18:00" --tz Europe/Paris`, Schedule{App: "a", Env: "b", Version: "1", At: "2026-03-01 18:00", TZ: "Europe/Paris"}, ""},
		{"schedule at rfc3339", "schedule a b 1 at 2026-03-01T18:00:00+01:00", Schedule{App: "a", Env: "b", Version: "1", At: "2026-03-01T18:00:00+01:00", AtTime: paris}, ""},
		{"schedule at rfc3339 utc", "schedule a b 1 at 2026-03-01T17:00:00Z", Schedule{App: "a", Env: "b", Version: "1", At: "2026-03-01T17:00:00Z", AtTime: paris}, ""},
		{"schedule at bad date", "schedule a b 1 at 2026-02-30 18:00", nil, `invalid time "2026-02-30 18:00"`},
		{"schedule at bad form", "schedule a b 1 at tomorrow", nil, `invalid time "tomorrow"`},
		{"schedule at extra", "schedule a b 1 at 2026-03-01 18:00 sharp", nil, "invalid time"},
		{"schedule at missing time", "schedule a b 1 at", nil, "missing the time after at"},
		{"schedule missing spec", "schedule a b 1", nil, "missing the cron spec"},
		{"schedule missing version", "schedule a b", nil, "missing <version>"},
		{"schedule usage both forms", "schedule", nil, "usage:\n/deploy schedule <app> <env> <version> \"<cron>\" [--tz <Area/City>] [--missed skip|run_once]\n/deploy schedule <app> <env> <version> at"},
		{"schedule six fields", `schedule a b 1 "0 0 18 * * 1-5"`, nil, "expected exactly 5 fields"},
		{"schedule four fields", `schedule a b 1 "0 18 * *"`, nil, "expected exactly 5 fields"},
		{"schedule out of range", `schedule a b 1 "0 25 * * *"`, nil, "invalid cron spec \"0 25 * * *\": end of range (25) above maximum (23)"},
		{"schedule unknown descriptor", "schedule a b 1 @sometimes", nil, `invalid cron spec "@sometimes"`},
		{"schedule reboot descriptor", "schedule a b 1 @reboot", nil, `invalid cron spec "@reboot"`},
		{"schedule every refused", `schedule a b 1 "@every 1s"`, nil, "@every is not supported"},
		{"schedule every after tz refused", `schedule a b 1 "CRON_TZ=UTC @every 1h"`, nil, "@every is not supported"},
		{"schedule tz prefix without spec", `schedule a b 1 "CRON_TZ=Europe/Paris"`, nil, "missing the cron spec after CRON_TZ=Europe/Paris"},
		{"schedule tz prefix twice", `schedule a b 1 "CRON_TZ=UTC TZ=UTC 0 1 * * *"`, nil, "a time zone goes first, once"},
		{"schedule tz prefix and flag", `schedule a b 1 "CRON_TZ=UTC 0 1 * * *" --tz UTC`, nil, "give the time zone once"},
		{"schedule tz prefix bad", `schedule a b 1 "CRON_TZ=Europe//Paris 0 1 * * *"`, nil, `invalid time zone "Europe//Paris"`},
		{"schedule tz prefix dots", `schedule a b 1 "CRON_TZ=../etc 0 1 * * *"`, nil, `no cron field contains '.'`},
		{"schedule tz flag bad", `schedule a b 1 @daily --tz "Europe/Paris "`, nil, `invalid time zone "Europe/Paris "`},
		{"schedule tz local refused", `schedule a b 1 @daily --tz Local`, nil, `invalid time zone "Local"`},
		{"schedule tz flag missing", `schedule a b 1 @daily --tz`, nil, "--tz needs a value"},
		{"schedule cron odd character", `schedule a b 1 "0 18 * * 1-5 ; reboot"`, nil, "no cron field contains ';'"},
		{"schedule cron dollar", `schedule a b 1 '$(reboot) * * * *'`, nil, "no cron field contains '$'"},
		{"schedule check refused", `schedule a b 1 @daily --check`, nil, `unknown flag "--check"`},
		{"schedule bad version", `schedule a b 'v 1' @daily`, nil, `invalid version "v 1"`},
		{"schedule never fires", `schedule a b 1 "0 0 31 2 *"`, nil, "it never fires"},
		{"schedule leap day fires", `schedule a b 1 "0 0 29 2 *"`, Schedule{App: "a", Env: "b", Version: "1", Cron: "0 0 29 2 *"}, ""},
		{"schedule empty list item", `schedule a b 1 ",,5 * * * *"`, nil, `the field ",,5" has an empty list item`},
		{"schedule quoted spec starting with dash", `schedule a b 1 "- * * * *"`, nil, `invalid cron spec "- * * * *"`},
		{"schedule question marks", `schedule a b 1 "0 6 ? * ?"`, Schedule{App: "a", Env: "b", Version: "1", Cron: "0 6 ? * ?"}, ""},
		{"schedules", "schedules", Schedules{}, ""},
		{"schedules extra", "schedules shop", nil, `unexpected argument "shop"`},

		// Apps.
		{"apps", "Apps", Apps{}, ""},
		{"apps extra", "apps shop", nil, "unexpected argument \"shop\"\nusage:\n/deploy apps"},
		{"apps flag", "apps --all", nil, `unknown flag "--all"`},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("duplicate test name %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %#v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error =\n%s\nwant it to contain %q", tt.in, err, tt.wantErr)
				}
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("Parse(%q) error %T is not a *SyntaxError", tt.in, err)
				}
				if se.Input != tt.in {
					t.Errorf("SyntaxError.Input = %q, want %q", se.Input, tt.in)
				}
				if se.Usage == "" || se.Usage != Usage(se.Command) || !strings.HasSuffix(se.Error(), se.Usage) {
					t.Errorf("SyntaxError usage %q does not fit command %q (error %q)", se.Usage, se.Command, se.Error())
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if !reflect.DeepEqual(canon(got), canon(tt.want)) {
				t.Fatalf("Parse(%q) =\n%#v\nwant\n%#v", tt.in, got, tt.want)
			}
			// The canonical text parses back to the same command.
			back, err := Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(String()) of %q = %q: %v", tt.in, got.String(), err)
			}
			if !reflect.DeepEqual(canon(back), canon(got)) {
				t.Fatalf("round trip of %q via %q gave %#v", tt.in, got.String(), back)
			}
			if u := Usage(got.Name()); u == "" || !strings.Contains(HelpText(), u) {
				t.Errorf("Usage(%q) = %q is not part of HelpText", got.Name(), u)
			}
		})
	}
}

// TestParseExpandsNothing shows that command substitution, backticks and
// variables in the input are never run or expanded.
func TestParseExpandsNothing(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	t.Setenv("DEPLOYBOT_SECRET_PROBE", "leaked")
	inputs := []string{
		"shop prod $(touch " + marker + ")",
		"shop prod `touch " + marker + "`",
		`shop prod "$(touch ` + marker + `)"`,
		"schedule shop prod 1 \"`touch " + marker + "`\"",
		"shop prod $DEPLOYBOT_SECRET_PROBE",
		"shop prod ${DEPLOYBOT_SECRET_PROBE}",
		`lock shop prod $DEPLOYBOT_SECRET_PROBE $(touch ` + marker + `)`,
	}
	for _, in := range inputs {
		c, err := Parse(in)
		if err == nil {
			if l, ok := c.(Lock); !ok || strings.Contains(l.Reason, "leaked") {
				t.Errorf("Parse(%q) = %#v, want an error or a lock reason kept as typed", in, c)
			}
		} else if strings.Contains(err.Error(), "leaked") {
			t.Errorf("Parse(%q) expanded a variable: %v", in, err)
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a command ran during parsing: stat %s: %v", marker, err)
	}
	c, err := Parse(`lock shop prod $DEPLOYBOT_SECRET_PROBE`)
	if err != nil || c.(Lock).Reason != "$DEPLOYBOT_SECRET_PROBE" {
		t.Fatalf("lock reason = %#v, %v; want the variable name kept literally", c, err)
	}
}

func TestSyntaxErrorUnwrapsCronError(t *testing.T) {
	_, err := Parse(`schedule a b 1 "61 * * * *"`)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SyntaxError", err)
	}
	if se.Err == nil || errors.Unwrap(err) != se.Err {
		t.Fatalf("SyntaxError.Err = %v, want the cron parser's error", se.Err)
	}
	if se.Command != "schedule" {
		t.Fatalf("SyntaxError.Command = %q, want schedule", se.Command)
	}
}

func TestScheduleAtIn(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want time.Time
	}{
		{"schedule a b 1 at 2026-07-01 18:00", time.Date(2026, 7, 1, 16, 0, 0, 0, time.UTC)},
		{"schedule a b 1 at 2026-07-01T18:00:00Z", time.Date(2026, 7, 1, 18, 0, 0, 0, time.UTC)},
		{"schedule a b 1 at 2026-07-01T18:00:00-04:00", time.Date(2026, 7, 1, 22, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		c, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		got, err := c.(Schedule).AtIn(paris)
		if err != nil {
			t.Fatalf("AtIn for %q: %v", tt.in, err)
		}
		if !got.Equal(tt.want) || got.Location() != paris {
			t.Errorf("AtIn for %q = %v, want %v in Europe/Paris", tt.in, got, tt.want)
		}
	}
	if _, err := (Schedule{Cron: "@daily"}).AtIn(paris); err == nil {
		t.Errorf("AtIn on a cron schedule succeeded, want an error")
	}
}

func TestReservedWordsAreCommands(t *testing.T) {
	for _, w := range ReservedWords() {
		for _, in := range []string{w, strings.ToUpper(w)} {
			c, err := Parse(in + " --help")
			if err != nil {
				t.Fatalf("Parse(%q): %v", in+" --help", err)
			}
			if h, ok := c.(Help); !ok || h.Topic != w {
				t.Errorf("Parse(%q) = %#v, want Help{Topic: %q}", in+" --help", c, w)
			}
		}
		if !ValidName(w) {
			t.Errorf("reserved word %q is not even a valid name; the config check would be moot", w)
		}
		if c, err := Parse(w + " prod 1.0.0"); err == nil {
			if _, isDeploy := c.(Deploy); isDeploy {
				t.Errorf("Parse(%q) deployed an app named like a command", w+" prod 1.0.0")
			}
		}
	}
}

func TestHelpText(t *testing.T) {
	h := HelpText()
	for _, w := range append(ReservedWords(), WordDeploy) {
		u := Usage(w)
		if !strings.HasPrefix(u, "/deploy") {
			t.Errorf("Usage(%q) = %q, want a /deploy line", w, u)
		}
		if !strings.Contains(h, u) {
			t.Errorf("HelpText lacks the usage of %q", w)
		}
		if th := (Help{Topic: w}).Text(); !strings.HasPrefix(th, u+"\n") {
			t.Errorf("Help{%q}.Text() = %q, want it to start with the usage", w, th)
		}
	}
	if (Help{}).Text() != h {
		t.Errorf("Help{}.Text() is not HelpText()")
	}
	if Usage("") != Usage("deploy") || Usage("LOCK") != Usage("lock") {
		t.Errorf("Usage does not default to deploy or is case-sensitive")
	}
	if u := Usage("nonsense"); !strings.Contains(u, Usage("schedule")) || !strings.Contains(u, Usage("apps")) {
		t.Errorf("Usage(unknown) = %q, want every usage", u)
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		fn   func(string) bool
		name string
		in   string
		want bool
	}{
		{ValidName, "ValidName", "shop-web", true},
		{ValidName, "ValidName", "a", true},
		{ValidName, "ValidName", "web.v2_eu-1", true},
		{ValidName, "ValidName", "Shop", false},
		{ValidName, "ValidName", "-shop", false},
		{ValidName, "ValidName", "", false},
		{ValidName, "ValidName", "shop web", false},
		{ValidVersion, "ValidVersion", "1.4.2", true},
		{ValidVersion, "ValidVersion", "v2.0.0-rc.1+sha.abc", true},
		{ValidVersion, "ValidVersion", "-1", false},
		{ValidVersion, "ValidVersion", "1/2", false},
		{ValidVersion, "ValidVersion", "1'", false},
		{ValidVersion, "ValidVersion", "1\\2", false},
		{ValidTZ, "ValidTZ", "UTC", true},
		{ValidTZ, "ValidTZ", "Europe/Paris", true},
		{ValidTZ, "ValidTZ", "America/Port-au-Prince", true},
		{ValidTZ, "ValidTZ", "America/Argentina/Buenos_Aires", true},
		{ValidTZ, "ValidTZ", "Etc/GMT-14", true},
		{ValidTZ, "ValidTZ", "Local", false},
		{ValidTZ, "ValidTZ", "/etc/passwd", false},
		{ValidTZ, "ValidTZ", "Europe/../x", false},
		{ValidTZ, "ValidTZ", "Europe//Paris", false},
		{ValidTZ, "ValidTZ", "1Europe", false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}
