package slacktest

import (
	"reflect"
	"testing"
)

func TestParseMrkdwn(t *testing.T) {
	cases := []struct {
		text string
		want []Entity
	}{
		{"plain & simple", nil},
		{"&lt;!channel&gt; &lt;@U1&gt; &amp;lt;", nil},
		{"hi <@U1> in <#C1|deploys>", []Entity{{Kind: "user", ID: "U1", Raw: "<@U1>"}, {Kind: "channel", ID: "C1", Label: "deploys", Raw: "<#C1|deploys>"}}},
		{"<!here> <!channel> <!everyone|all>", []Entity{{Kind: "broadcast", ID: "here", Raw: "<!here>"}, {Kind: "broadcast", ID: "channel", Raw: "<!channel>"}, {Kind: "broadcast", ID: "everyone", Label: "all", Raw: "<!everyone|all>"}}},
		{"`<!subteam^S1|@leads>`", []Entity{{Kind: "usergroup", ID: "S1", Label: "@leads", Raw: "<!subteam^S1|@leads>"}}},
		{"<https://evil.example|docs> <foo>", []Entity{{Kind: "link", ID: "https://evil.example", Label: "docs", Raw: "<https://evil.example|docs>"}, {Kind: "link", ID: "foo", Raw: "<foo>"}}},
		{"<!date^1^{date}|x> <!foo> <> unterminated <@U2", []Entity{{Kind: "date", ID: "1^{date}", Label: "x", Raw: "<!date^1^{date}|x>"}, {Kind: "special", ID: "foo", Raw: "<!foo>"}}},
	}
	for _, tc := range cases {
		if got := ParseMrkdwn(tc.text); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseMrkdwn(%q) = %+v, want %+v", tc.text, got, tc.want)
		}
	}
	blocks := `[{"type":"section","text":{"type":"mrkdwn","text":"<@U1>"},"fields":[{"type":"mrkdwn","text":"<!here>"}]},{"type":"header","text":{"type":"plain_text","text":"<!channel>"}}]`
	if got := MrkdwnEntities("<#C1>", []byte(blocks)); len(got) != 3 {
		t.Errorf("MrkdwnEntities = %+v, want the top-level channel, the section's user and the field's broadcast (not the plain_text header)", got)
	}
}
