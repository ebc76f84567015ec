package b2_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/bench/b2"
	"github.com/imagecascade/cascade/internal/cli"
	"github.com/imagecascade/cascade/internal/faultproxy"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/testenv"
)

var small = b2.Spec{Dependents: 60, Tiers: 4, MultiArch: 0.3, Stale: 0.4, Seed: 7}

// harness runs cascade plan in-process, once, and the ideal client, on a
// registry set up for small, and checks what the benchmark's verdicts rest
// on: the plan is the generator's truth; cascade asks for at most one
// request per dependent (+1 per platform), one ping, one token per 100
// repositories, a HEAD (never a GET) for each dependent a rebuilt base
// carries; the ideal client replays the same registry requests.
func harness(t *testing.T, registryBin string) {
	env, err := b2.Setup(context.Background(), t.TempDir(), registryBin, small, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	for _, kv := range env.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var first []faultproxy.Request
	tools := []b2.Tool{b2.InProcess(cli.Run), env.Floor(func() []faultproxy.Request { return first }, b2.Concurrency)}
	results, err := b2.Run(context.Background(), b2.Options{Env: env, Tools: tools, Runs: 1, Latency: time.Millisecond,
		Observe: func(tool string, round int, reqs []faultproxy.Request) {
			if tool == "cascade" {
				first = reqs
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	s := env.Stream
	correct, err := b2.Check(s, results[0].Output)
	if err != nil {
		t.Fatal(err)
	}
	truth := s.Truth()
	if !correct.OK() || correct.Stale != truth.Stale || correct.Current != truth.Current {
		t.Errorf("plan against the truth: %+v; truth %+v", correct, truth)
	}
	c := results[0].Counts
	if c.Dependents > s.Allowance() || c.Ping != 1 || c.Token != 1 || c.Blob != 0 || c.Other != 0 {
		t.Errorf("cascade's requests: %+v; want ≤ %d for the dependents, 1 ping, 1 token, no blob", c, s.Allowance())
	}
	for _, n := range s.Dependents() {
		rc := c.PerRepo[n.Repo]
		want := b2.RepoCounts{Get: 1, Head: 0}
		switch {
		case n.Want.Action == plan.ActionCascade:
			want = b2.RepoCounts{Head: 1}
		case n.Multi:
			want.Get = 1 + len(b2.Platforms)
		}
		if rc != want {
			t.Errorf("%s (%s, multi-arch %v): %+v manifest requests, want %+v", n.Name, n.Want.Action, n.Multi, rc, want)
		}
	}
	if f := results[1].Counts; f.HeadManifest != c.HeadManifest || f.GetManifest != c.GetManifest || f.Ping+f.Token != 0 {
		t.Errorf("ideal client %+v, want cascade's manifest requests %+v and no ping or token", f, c)
	}
	var table bytes.Buffer
	rep := b2.Report{Bench: "B2", Backend: env.Backend, Env: env, Results: results, Runs: 1, Latency: time.Millisecond, Correct: correct}
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	want := []string{"PASS  B2 plan = the generator's truth", "B2 wall ≤ 1.5×"}
	if registryBin != b2.Memory {
		want = append(want, "PASS  B2 ≤ 1 request per dependent", "PASS  B2 HEAD where a digest suffices")
	}
	for _, w := range want {
		if !strings.Contains(table.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, table.String())
		}
	}
}

// TestHarnessDockerRegistry runs the harness against Debian's
// docker-registry, as bench/run-b2 does (a failure in CI without it).
func TestHarnessDockerRegistry(t *testing.T) {
	harness(t, testenv.Require(t, "docker-registry"))
}

// TestHarnessMemory runs it against the in-memory registry behind the
// same token auth.
func TestHarnessMemory(t *testing.T) {
	harness(t, b2.Memory)
}

// TestGenerateIsDeterministic: the same spec gives the same digests and
// expectations; the expectations follow the staleness rules of docs/contract.md.
func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	a, err := b2.Generate(small, "127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	b, err := b2.Generate(small, "127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, n := range a.TierSizes {
		sum += n
	}
	if len(a.Nodes) != small.Dependents+1 || sum != small.Dependents || len(a.TierSizes) != small.Tiers {
		t.Fatalf("%d nodes, tiers %v; want %d dependents in %d tiers", len(a.Nodes), a.TierSizes, small.Dependents, small.Tiers)
	}
	multi := 0
	for i, n := range a.Nodes {
		m := b.Nodes[i]
		if n.Name != m.Name || n.Digest != m.Digest || n.Want != m.Want || n.Parent != m.Parent {
			t.Fatalf("node %d differs: %s %s %v, %s %s %v", i, n.Name, n.Digest, n.Want, m.Name, m.Digest, m.Want)
		}
		if i == 0 {
			continue
		}
		parent := a.Nodes[n.Parent]
		if parent.Tier != n.Tier-1 || (n.Multi && !parent.Multi) {
			t.Errorf("%s (tier %d, multi %v) on %s (tier %d, multi %v)", n.Name, n.Tier, n.Multi, parent.Name, parent.Tier, parent.Multi)
		}
		if n.Multi {
			multi++
		}
		stale := false
		for _, st := range n.StaleOn {
			stale = stale || st
		}
		carried := parent.Want.Action == plan.ActionDispatch || parent.Want.Action == plan.ActionCascade
		want := map[bool]plan.Action{true: plan.ActionDispatch, false: plan.ActionSkip}[stale]
		if carried {
			want = plan.ActionCascade
		}
		if n.Want.Action != want {
			t.Errorf("%s: want %s, the generator says %s", n.Name, want, n.Want.Action)
		}
	}
	if multi == 0 || a.Truth().Stale == 0 || a.Truth().Current == 0 || a.Truth().Cascade == 0 {
		t.Errorf("a stream without a mix: %+v", a.Truth())
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	reqs := []faultproxy.Request{
		{Method: "GET", Path: "/v2/"}, {Method: "GET", Path: "/token"},
		{Method: "HEAD", Path: "/v2/bench/base/manifests/latest"},
		{Method: "GET", Path: "/v2/bench/base/manifests/sha256:aa"},
		{Method: "GET", Path: "/v2/bench/t1-00001/manifests/latest"},
		{Method: "HEAD", Path: "/v2/bench/t2-00001/manifests/latest"},
		{Method: "GET", Path: "/v2/bench/t1-00001/blobs/sha256:bb"},
		{Method: "GET", Path: "/favicon.ico"},
	}
	c := b2.Count(reqs, "bench/base")
	if c.Ping != 1 || c.Token != 1 || c.HeadManifest != 2 || c.GetManifest != 2 || c.Blob != 1 || c.Other != 1 || c.Base != 2 || c.Dependents != 3 || c.Total() != 8 {
		t.Errorf("Count = %+v", c)
	}
	if got := c.PerRepo["bench/t1-00001"]; got != (b2.RepoCounts{Get: 1}) {
		t.Errorf("t1-00001: %+v", got)
	}
}
