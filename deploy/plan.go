package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Plan is what a request will do, frozen when it is made: approving a
// request approves exactly this plan, identified by its full hash.
type Plan struct {
	Kind    Kind   `json:"kind"`
	App     string `json:"app"`
	Env     string `json:"env"`
	Version string `json:"version,omitempty"`
	// ArtifactURL is the build to deploy, for web apps.
	ArtifactURL string `json:"artifact_url,omitempty"`
	// ArtifactSize and ArtifactChecksum are what the build server said of
	// the build when the plan was made, when it said it.
	ArtifactSize     int64    `json:"artifact_size,omitempty"`
	ArtifactChecksum string   `json:"artifact_checksum,omitempty"`
	Hosts            []string `json:"hosts"`
	// Inventory is the AWX inventory name.
	Inventory string `json:"inventory"`
	// JobTemplate is the AWX job template name or id; empty for an ad-hoc command.
	JobTemplate string `json:"job_template,omitempty"`
	// AdHoc is set when the plan runs as an AWX ad-hoc shell command.
	AdHoc bool `json:"ad_hoc,omitempty"`
	// ModuleArgs is the ad-hoc shell command line.
	ModuleArgs string `json:"module_args,omitempty"`
	Check      bool   `json:"check,omitempty"`
	// ExtraVars are sent to the playbook (playbooks/README.md, "Extra vars").
	ExtraVars map[string]any `json:"extra_vars,omitempty"`
	// Restores says, for a rollback, what it brings back, e.g. "1.4.1
	// (#12), the release before 1.4.2 (#15)".
	Restores string `json:"restores,omitempty"`
	// RollbackVersion is, for a rollback without a release id, the version
	// every host ends on: the newest release that was live on all of them
	// (see chooseRollback). RollbackRelease is the request that deployed it.
	RollbackVersion string `json:"rollback_version,omitempty"`
	RollbackRelease int64  `json:"rollback_release,omitempty"`
	// HostVersions is, for such a rollback, what the release history says
	// each host runs: one version, or several newest first when a release
	// there did not finish; no entry when the history does not know.
	HostVersions map[string][]string `json:"host_versions,omitempty"`
	// Become runs the job's tasks as root through sudo (the app's
	// "become" setting; playbooks/README.md).
	Become bool `json:"become,omitempty"`
}

// Hash is the plan's full SHA-256 digest in hex (64 characters): the same
// plan always gives the same hash, and any change of what would run changes
// it. Approvals bind this full hash; ShortHash is for display only.
func (p Plan) Hash() string {
	// encoding/json writes map keys sorted, so the encoding is canonical.
	b, err := json.Marshal(p)
	if err != nil {
		// Extra vars hold only YAML/JSON values, so this is not expected;
		// a printed form still gives a stable digest.
		b = fmt.Appendf(nil, "%#v", p)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ShortHashLen is how many hex digits of a plan hash cards show.
const ShortHashLen = 12

// ShortHash is the prefix of a plan hash shown to people. It identifies
// nothing: two plans may share it, so it is never used to find or check
// a plan.
func ShortHash(h string) string {
	if len(h) > ShortHashLen {
		return h[:ShortHashLen]
	}
	return h
}

// buildBase is p without what the build server said of the build (size
// and checksum): what a schedule approves, since a run checks the build
// only when it starts.
func buildBase(p Plan) Plan {
	p.ArtifactSize, p.ArtifactChecksum = 0, ""
	if _, ok := p.ExtraVars["artifact_checksum"]; ok {
		vars := make(map[string]any, len(p.ExtraVars))
		for k, v := range p.ExtraVars {
			if k != "artifact_checksum" {
				vars[k] = v
			}
		}
		p.ExtraVars = vars
	}
	return p
}
