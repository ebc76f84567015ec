package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/report"
)

// The secrets of the R39 run, one of each kind cascade holds.
const (
	r39Token    = "ghp_R39cliTokenAbcdefghijklmnopqrstuvwxyz"
	r39Hook     = "r39-Webhook-Secret+/=value"
	r39Kube     = "r39-kube-bearer-Token.abcdefghijklmnop"
	r39RegUser  = "ci-robot"
	r39RegPass  = "r39-Registry-Passw0rd!"
	r39Identity = "r39-identity-token-0123456789abcdef"
)

// r39Forms lists every form of every secret a hostile server echoes.
func r39Forms() map[string]string {
	forms := map[string]string{}
	add := func(name, secret, user string) {
		forms[name+" raw"] = secret
		forms[name+" base64"] = base64.StdEncoding.EncodeToString([]byte(secret))
		forms[name+" base64url raw"] = base64.RawURLEncoding.EncodeToString([]byte(secret))
		forms[name+" base64 x-access-token"] = base64.StdEncoding.EncodeToString([]byte("x-access-token:" + secret))
		forms[name+" percent"] = url.QueryEscape(secret)
		forms[name+" in a base64 run"] = base64.StdEncoding.EncodeToString([]byte(`{"k":"` + secret + `","more":1}`))
		if user != "" {
			forms[name+" base64 user:pass"] = base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))
		}
	}
	add("token", r39Token, "")
	add("webhook secret", r39Hook, "")
	add("kube token", r39Kube, "")
	add("registry password", r39RegPass, r39RegUser)
	add("identity token", r39Identity, "")
	return forms
}

// r39Echo is what the hostile servers answer: every form, and lines that
// GitHub Actions would run as workflow commands.
func r39Echo() string {
	var b strings.Builder
	b.WriteString("denied\n::warning title=pwned::remote text\n  ::add-mask::nothing\n##[error]remote\n")
	for name, f := range r39Forms() {
		fmt.Fprintf(&b, "%s: %s\n", name, f)
	}
	return b.String()
}

// TestR39_SecretsEchoedByServersNeverPrinted, TestR40 (below): a run whose
// every target answers with every secret of the run in every encoding
// prints none of them on stdout (-o json), stderr, or in the history
// record it stores in the registry; and no remote line becomes a workflow
// command. Not parallel: the secrets come from the environment.
func TestR39_SecretsEchoedByServersNeverPrinted(t *testing.T) {
	out, errs, record, _ := r39Run(t)
	for name, f := range r39Forms() {
		for sink, text := range map[string]string{"stdout": out, "stderr": errs, "history record": record} {
			if strings.Contains(text, f) {
				t.Errorf("%s: %s survives in %s", sink, name, text)
			}
		}
	}
	if !strings.Contains(out+errs, redact.Marker) {
		t.Errorf("no redaction marker in the output: did the echoes arrive?\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
}

// TestR40_RemoteWorkflowCommandsAreQuoted: remote error text with lines
// starting "::" (or "##[") never starts a line of cascade's output or of
// its history record, in a plain cascade run step and in cascade history.
func TestR40_RemoteWorkflowCommandsAreQuoted(t *testing.T) {
	out, errs, _, rec := r39Run(t)
	var texts []string
	for _, d := range rec.Dispatches {
		texts = append(texts, d.Error, d.Detail)
	}
	for sink, text := range map[string]string{"stdout": out, "stderr": errs, "history record": strings.Join(texts, "\n")} {
		for _, line := range strings.Split(text, "\n") {
			if redact.IsCommand(line) {
				t.Errorf("%s: line %q is a workflow command", sink, line)
			}
		}
	}
	if !strings.Contains(errs+out+strings.Join(texts, "\n"), "> ::warning title=pwned::") {
		t.Errorf("the remote lines are not there, quoted:\n%s\n%s", out, errs)
	}
}

// r39Run runs cascade against a registry and hostile GitHub, webhook and
// Kubernetes servers; it returns stdout, stderr, the stored record (its
// JSON, then its text fields as they are) and the record.
func r39Run(t *testing.T) (string, string, string, history.Generation) {
	t.Helper()
	echo := r39Echo()
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/apis/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure",
				"message": echo, "reason": "Forbidden", "code": 403})
		case strings.HasPrefix(r.URL.Path, "/repos/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(map[string]any{"message": echo})
		default:
			http.Error(w, echo, http.StatusBadRequest)
		}
	})
	hostile := httptest.NewServer(answer)
	t.Cleanup(hostile.Close)
	// client-go sends credentials over TLS only.
	kube := httptest.NewTLSServer(answer)
	t.Cleanup(kube.Close)

	reg := imagetest.NewRegistry(t)
	baseRef := reg.Ref("acme/base:latest")
	root := imagetest.Root(t)
	v1 := imagetest.On(t, root)
	v1d := reg.Push("acme/base:latest", v1)
	for _, app := range []string{"app-gh", "app-hook", "app-kube"} {
		reg.Push("acme/"+app+":latest", imagetest.Annotated(imagetest.On(t, v1), baseRef, v1d))
	}
	reg.Push("acme/base:latest", imagetest.On(t, root))

	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.NewReplacer("REG", reg.Host, "HOSTILE", hostile.URL).Replace(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {webhook: {url: "HOSTILE/base"}}}
  - {name: app-gh, image: REG/acme/app-gh:latest, from: [REG/acme/base], rebuild: {github: {repository: acme/app-gh}}}
  - {name: app-hook, image: REG/acme/app-hook:latest, from: [REG/acme/base], rebuild: {webhook: {url: "HOSTILE/hook", secretEnv: R39_HOOK_SECRET}}}
  - {name: app-kube, image: REG/acme/app-kube:latest, from: [REG/acme/base], rebuild: {tekton: {namespace: ci, pipeline: build}}}
`))
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: %q}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, kube.URL, r39Kube))
	docker := t.TempDir()
	writeFile(t, filepath.Join(docker, "config.json"), fmt.Sprintf(`{"auths":{"registry.r39.invalid":{"auth":%q},"other.r39.invalid":{"identitytoken":%q}}}`,
		base64.StdEncoding.EncodeToString([]byte(r39RegUser+":"+r39RegPass)), r39Identity))
	t.Setenv("DOCKER_CONFIG", docker)
	t.Setenv("GITHUB_TOKEN", r39Token)
	t.Setenv("R39_HOOK_SECRET", r39Hook)

	code, out, errs := run(t, "run", "--image", baseRef, "--workspace", ws, "--github-api-url", hostile.URL,
		"--kubeconfig", kubeconfig, "-o", "json", "--log-level", "debug")
	if code == 0 {
		t.Fatalf("exit 0, want the failed dispatches reported:\n%s\n%s", out, errs)
	}
	var r report.Run
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("-o json is not JSON after redaction: %v\n%s", err, out)
	}
	if len(r.Dispatches) != 3 {
		t.Fatalf("%d dispatches, want 3:\n%s\n%s", len(r.Dispatches), out, errs)
	}
	ref, err := imageref.Parse(baseRef)
	if err != nil {
		t.Fatal(err)
	}
	ref.Digest = imageref.Digest(r.Plan.Digest)
	gens, err := history.New(history.Options{}).Load(context.Background(), ref)
	if err != nil || len(gens) != 1 {
		t.Fatalf("loading the record: %v (%d records)", err, len(gens))
	}
	record, err := json.Marshal(gens[0])
	if err != nil {
		t.Fatal(err)
	}
	// The record as stored, unescaped: a secret JSON would escape is
	// looked for as is.
	var raw strings.Builder
	for _, d := range gens[0].Dispatches {
		raw.WriteString(d.Error + "\n" + d.Detail + "\n")
	}
	return out, errs, string(record) + "\n" + raw.String(), gens[0]
}

// TestR39_RegistryEchoNeverPrinted: a registry that echoes the Docker
// config's password (raw, base64 of user:password, percent-encoded) and
// workflow commands in its error gets none of it printed.
func TestR39_RegistryEchoNeverPrinted(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(r39RegUser + ":" + r39RegPass))
	echo := fmt.Sprintf("denied for %s (%s, %s)\n::error::pwned", r39RegPass, basic, url.QueryEscape(r39RegPass))
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != r39RegUser || p != r39RegPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="r39"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodHead {
			// HEAD answers have no body: resolve, then refuse the GET.
			w.Header().Set("Docker-Content-Digest", "sha256:"+hex64)
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Content-Length", "2")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"code": "DENIED", "message": echo}}})
	}))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "cascade.yaml"), "version: 1\nimages:\n  - {name: app, image: "+host+"/acme/app:1, from: ["+host+"/acme/base:1], rebuild: {webhook: {url: \"http://127.0.0.1:1/\"}}}\n")
	docker := t.TempDir()
	writeFile(t, filepath.Join(docker, "config.json"), fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, basic))
	t.Setenv("DOCKER_CONFIG", docker)
	for _, format := range []string{"text", "json"} {
		code, out, errs := run(t, "plan", "--image", host+"/acme/base:1", "--workspace", ws, "-o", format)
		if code == 0 {
			t.Fatalf("exit 0, want the registry's refusal")
		}
		t.Logf("-o %s: exit %d: %s", format, code, errs)
		if !strings.Contains(errs, redact.Marker) {
			t.Errorf("-o %s: the echo did not reach the output, the test proves nothing:\n%s", format, errs)
		}
		for _, f := range []string{r39RegPass, basic, url.QueryEscape(r39RegPass)} {
			if strings.Contains(out+errs, f) {
				t.Errorf("-o %s: %q printed:\n%s\n%s", format, f, out, errs)
			}
		}
		for _, line := range strings.Split(out+errs, "\n") {
			if redact.IsCommand(line) {
				t.Errorf("-o %s: line %q is a workflow command", format, line)
			}
		}
	}
}
