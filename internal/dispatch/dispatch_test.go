package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestDedupKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("very-long-name-", 6)
	tests := []struct {
		dependent string
		digest    imageref.Digest
		want      string
	}{
		{"app-a", newDigest, "app-a-1a2b1a2b1a2b"},
		{"httpd-base", newDigest, "httpd-base-1a2b1a2b1a2b"},
		{"App_A", newDigest, "app-a-" + hash8("App_A") + "-1a2b1a2b1a2b"},
		{"app.a", newDigest, "app-a-" + hash8("app.a") + "-1a2b1a2b1a2b"},
		{"---", newDigest, "x" + hash8("---") + "-1a2b1a2b1a2b"},
		{long, newDigest, long[:41] + "-" + hash8(long) + "-1a2b1a2b1a2b"},
	}
	for _, tt := range tests {
		t.Run(tt.dependent, func(t *testing.T) {
			t.Parallel()
			got := dispatch.DedupKey(tt.dependent, tt.digest)
			if got != tt.want {
				t.Errorf("DedupKey = %q, want %q", got, tt.want)
			}
			if len(got) > 63 || !dns1123.MatchString(got) {
				t.Errorf("%q is not a DNS-1123 label", got)
			}
			if again := dispatch.DedupKey(tt.dependent, tt.digest); again != got {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
		})
	}
	other := imageref.Digest("sha256:" + strings.Repeat("9", 64))
	if dispatch.DedupKey("app-a", newDigest) == dispatch.DedupKey("app-a", other) {
		t.Error("different digests share a key")
	}
	if dispatch.DedupKey("App_A", newDigest) == dispatch.DedupKey("app-a", newDigest) {
		t.Error("names that sanitise alike share a key")
	}
}

// hash8 mirrors the documented suffix: the first 4 bytes of SHA-256, hex.
func hash8(s string) string {
	sum := sha256Sum(s)
	return fmt.Sprintf("%x", sum[:4])
}

func TestPayloadGolden(t *testing.T) {
	t.Parallel()
	tg := target("app-a", config.Rebuild{})
	tg.Cascade = dispatch.Cascade{Depth: 2, Chain: []string{"centos", "httpd-base"}, Origin: "quay.io/centos/centos@sha256:" + strings.Repeat("3", 64)}
	b, err := dispatch.BuildPayload(tg).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"image":"registry.example.com/acme/httpd-base:latest","digest":"sha256:1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b",` +
		`"ref":"registry.example.com/acme/httpd-base@sha256:1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b","dependent":"app-a",` +
		`"cascade":{"id":"app-a-1a2b1a2b1a2b","depth":2,"chain":["centos","httpd-base"],"origin":"quay.io/centos/centos@sha256:3333333333333333333333333333333333333333333333333333333333333333"}}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestR13_PayloadChecks(t *testing.T) {
	t.Parallel()
	keys := map[string]int{}
	for i := range 11 {
		keys[fmt.Sprint("k", i)] = i
	}
	elevenKeys, _ := json.Marshal(keys)
	inputs := map[string]string{}
	for i := range 26 {
		inputs[fmt.Sprint("i", i)] = "v"
	}
	big := target("app-a", config.Rebuild{})
	big.Cascade.Chain = []string{strings.Repeat("a", 64<<10)}
	tests := []struct {
		name string
		err  error
	}{
		{"11 keys", dispatch.CheckClientPayload(elevenKeys)},
		{"64 KB", dispatch.BuildPayload(big).Check()},
		{"26 inputs", dispatch.CheckInputs(inputs)},
	}
	for _, tt := range tests {
		if c := exitcode.Of(tt.err); c != exitcode.Invalid {
			t.Errorf("%s: exit code %d (%v), want %d", tt.name, c, tt.err, exitcode.Invalid)
		}
	}
	if err := dispatch.CheckInputs(map[string]string{"a": "b"}); err != nil {
		t.Errorf("one input: %v", err)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	gh := func(name string) dispatch.Target {
		return target(name, config.Rebuild{GitHub: &config.GitHub{Repository: "acme/" + name}})
	}
	t.Run("order and best effort", func(t *testing.T) {
		t.Parallel()
		f := &dispatch.Fake{KindName: "github", Answer: func(tg dispatch.Target) dispatch.Outcome {
			if tg.Name == "b" {
				panic("broken")
			}
			if tg.Name == "c" {
				return dispatch.Outcome{Status: dispatch.StatusFailed, Err: errors.New("no")}
			}
			return dispatch.Outcome{Name: tg.Name, Status: dispatch.StatusDispatched}
		}}
		targets := []dispatch.Target{gh("a"), gh("b"), gh("c"), gh("d"), target("e", config.Rebuild{Rebase: &config.Rebase{}})}
		out, err := dispatch.Run(context.Background(), targets, map[string]dispatch.Dispatcher{"github": f}, dispatch.RunOptions{Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range out {
			got = append(got, fmt.Sprintf("%s/%s/%s", o.Name, o.Kind, o.Status))
		}
		want := []string{"a/github/dispatched", "b/github/failed", "c/github/failed", "d/github/dispatched", "e/rebase/failed"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
		if len(f.Calls()) != 4 {
			t.Errorf("%d calls, want 4", len(f.Calls()))
		}
		if c := exitcode.Of(dispatch.Summarize(out)); c != exitcode.Partial {
			t.Errorf("Summarize exit %d, want 3", c)
		}
	})
	t.Run("R07 blast radius refused before any call", func(t *testing.T) {
		t.Parallel()
		f := &dispatch.Fake{KindName: "github"}
		out, err := dispatch.Run(context.Background(), []dispatch.Target{gh("a"), gh("b"), gh("c")}, map[string]dispatch.Dispatcher{"github": f}, dispatch.RunOptions{Limit: 2})
		if exitcode.Of(err) != exitcode.Refused || out != nil || len(f.Calls()) != 0 {
			t.Errorf("err %v, %d outcomes, %d calls; want refused, none, none", err, len(out), len(f.Calls()))
		}
	})
	t.Run("R07 dry run calls nothing", func(t *testing.T) {
		t.Parallel()
		f := &dispatch.Fake{KindName: "github"}
		out, err := dispatch.Run(context.Background(), []dispatch.Target{gh("a")}, map[string]dispatch.Dispatcher{"github": f}, dispatch.RunOptions{DryRun: true})
		if err != nil || len(out) != 1 || out[0].Status != dispatch.StatusSkipped || len(f.Calls()) != 0 {
			t.Errorf("err %v, outcomes %+v, %d calls", err, out, len(f.Calls()))
		}
		if err := dispatch.Summarize(out); err != nil {
			t.Errorf("Summarize: %v", err)
		}
	})
	t.Run("R08 loop refused before any call", func(t *testing.T) {
		t.Parallel()
		f := &dispatch.Fake{KindName: "github"}
		loop := gh("a")
		loop.Cascade.Chain = []string{"base", "a", "b"}
		_, err := dispatch.Run(context.Background(), []dispatch.Target{gh("z"), loop}, map[string]dispatch.Dispatcher{"github": f}, dispatch.RunOptions{MaxDepth: 10})
		if exitcode.Of(err) != exitcode.Refused || len(f.Calls()) != 0 {
			t.Errorf("err %v, %d calls; want refused and none", err, len(f.Calls()))
		}
	})
	t.Run("all transient is exit 4", func(t *testing.T) {
		t.Parallel()
		out := []dispatch.Outcome{{Name: "a", Status: dispatch.StatusFailed, Err: exitcode.AsTransient(errors.New("503"))}}
		if c := exitcode.Of(dispatch.Summarize(out)); c != exitcode.Transient {
			t.Errorf("exit %d, want 4", c)
		}
	})
}

func TestR08_CheckChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		c         dispatch.Cascade
		dependent string
		max       int
		want      int
	}{
		{"fine", dispatch.Cascade{Depth: 2, Chain: []string{"centos", "httpd-base"}}, "app-a", 10, exitcode.OK},
		{"dependent already in chain", dispatch.Cascade{Depth: 3, Chain: []string{"httpd-base", "app-a"}}, "httpd-base", 10, exitcode.Refused},
		{"image is its own base", dispatch.Cascade{Depth: 1, Chain: []string{"a"}}, "a", 10, exitcode.Refused},
		{"depth over max", dispatch.Cascade{Depth: 11}, "app-a", 10, exitcode.Refused},
		{"depth at max", dispatch.Cascade{Depth: 10}, "app-a", 10, exitcode.OK},
		{"no max", dispatch.Cascade{Depth: 99}, "app-a", 0, exitcode.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if c := exitcode.Of(dispatch.CheckChain(tt.c, tt.dependent, tt.max)); c != tt.want {
				t.Errorf("exit %d, want %d", c, tt.want)
			}
		})
	}
}

func TestOutcomeJSON(t *testing.T) {
	t.Parallel()
	o := dispatch.Outcome{Name: "a", Kind: "webhook", Status: dispatch.StatusFailed, Attempts: 2,
		Err: errors.New(`Post "https://u:pw@hooks.example.com/x?sig=abc": refused`)}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"a","kind":"webhook","status":"failed","attempts":2,"error":"Post \"https://REDACTED@hooks.example.com/x?REDACTED\": refused"}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}
