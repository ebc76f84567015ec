package action

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestSummaryMermaidRendersInChromium renders the step summary's Mermaid
// graph with the real Mermaid library in headless Chromium (Debian's
// chromium, mermaid from npm, both installed by .ci/build-gh-tools): the
// DOM must hold an SVG with every node and no syntax error, and the
// screenshot must be a real picture (not blank).
func TestSummaryMermaidRendersInChromium(t *testing.T) {
	t.Parallel()
	mermaidJS := ghTool(t, "CASCADE_MERMAID_JS", filepath.Join("mermaid-"+mermaidVersion, "node_modules", "mermaid", "dist", "mermaid.min.js"))
	chromium := os.Getenv("CASCADE_CHROMIUM")
	if chromium == "" {
		var err error
		if chromium, err = exec.LookPath("chromium"); err != nil {
			if testenv.InCI() {
				t.Fatalf("real component missing in CI: chromium: run .ci/build-gh-tools as root")
			}
			t.Skip("chromium not found: run .ci/build-gh-tools as root (apt-get install chromium)")
		}
	}
	var r report.Run
	if err := json.Unmarshal([]byte(runJSON), &r); err != nil {
		t.Fatal(err)
	}
	var graph bytes.Buffer
	report.CascadeMermaid(&graph, &r)

	dir := t.TempDir()
	page := `<!doctype html><html><head><meta charset="utf-8"><script src="file://` + mermaidJS + `"></script></head>
<body style="background:#fff"><pre class="mermaid">` + html.EscapeString(graph.String()) + `</pre>
<script>mermaid.initialize({startOnLoad: true, securityLevel: "strict"});</script></body></html>`
	index := filepath.Join(dir, "index.html")
	if err := os.WriteFile(index, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chrome := func(args ...string) []byte {
		t.Helper()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--allow-file-access-from-files",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--virtual-time-budget=15000", "--window-size=1400,900"}
		cmd := exec.CommandContext(ctx, chromium, append(append(base, args...), "file://"+index)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	dom := string(chrome("--dump-dom"))
	if !strings.Contains(dom, "<svg") || strings.Contains(dom, "Syntax error") {
		t.Fatalf("mermaid did not render an SVG:\n%s", dom)
	}
	for _, want := range []string{"app-a", "app-b", "app-c", "tier 1", "tier 2", "httpd-base"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered SVG lacks %q", want)
		}
	}
	shot := filepath.Join(dir, "summary.png")
	chrome("--screenshot=" + shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	// A picture, not a blank page: count non-white pixels.
	inked := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || b < 0xf000 {
				inked++
			}
		}
	}
	t.Logf("rendered %dx%d, %d inked sample pixels", bounds.Dx(), bounds.Dy(), inked)
	if inked < 500 {
		t.Errorf("the screenshot is (nearly) blank: %d inked pixels", inked)
	}
	if out := os.Getenv("CASCADE_MERMAID_PNG"); out != "" {
		data, _ := os.ReadFile(shot)
		_ = os.WriteFile(out, data, 0o644)
	}
}
