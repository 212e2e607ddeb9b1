package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestDiffKeysAreFileKeys: the key paths Diff reports for changed settings
// are the keys of the file, for every field a struct has now or gains.
func TestDiffKeysAreFileKeys(t *testing.T) {
	for _, tt := range []struct {
		loaded, raw any
		skip        []string
	}{
		{Slack{}, rawSlack{}, nil},
		{AWX{}, rawAWX{}, nil},
		{App{}, rawApp{}, []string{"Name", "VersionRE", "Environments"}},
		{Environment{}, rawEnv{}, []string{"Name"}},
	} {
		var tags []string
		rt := reflect.TypeOf(tt.raw)
		for i := range rt.NumField() {
			tags = append(tags, strings.Split(rt.Field(i).Tag.Get("yaml"), ",")[0])
		}
		lt := reflect.TypeOf(tt.loaded)
		for i := range lt.NumField() {
			name := lt.Field(i).Name
			if slices.Contains(tt.skip, name) {
				continue
			}
			if key := fileKey(name); !slices.Contains(tags, key) {
				t.Errorf("%s.%s is reported as %q, which is not a key of the file (%v)", lt.Name(), name, key, tags)
			}
		}
	}
}
