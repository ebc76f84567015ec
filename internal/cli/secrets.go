package cli

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/wire"
)

// learnSecrets teaches r the secrets the run can know before it sends
// anything: the GitHub tokens in the environment and the credentials in
// the Docker (and Podman) config files. The rest is learned as it is
// used: every Authorization header sent (internal/outbound), webhook
// secrets when read, the Kubernetes config's credentials when the Tekton
// dispatcher runs, and what a credential helper returns (internal/wire's keychain).
func learnSecrets(r *redact.Redactor) {
	for _, k := range []string{"CASCADE_GITHUB_TOKEN", "GITHUB_TOKEN", "INPUT_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"} {
		r.Add(os.Getenv(k))
	}
	for _, f := range dockerConfigFiles() {
		learnDockerConfig(r, f)
	}
}

// dockerConfigFiles lists the files authn.DefaultKeychain reads.
func dockerConfigFiles() []string {
	var out []string
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		out = append(out, filepath.Join(d, "config.json"))
	} else if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, ".docker", "config.json"))
	}
	if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" {
		out = append(out, f)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		out = append(out, filepath.Join(d, "containers", "auth.json"))
	}
	return out
}

// learnDockerConfig teaches r the passwords and tokens stored in a Docker
// config file. A missing or unreadable file teaches nothing (the keychain
// reports real problems when it reads the file).
func learnDockerConfig(r *redact.Redactor, path string) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 4<<20 {
		return
	}
	var cf struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if json.Unmarshal(data, &cf) != nil {
		return
	}
	for _, a := range cf.Auths {
		wire.LearnAuth(r, &a)
	}
}
