package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

func TestPinned(t *testing.T) {
	t.Parallel()
	u := imageref.MustParse("registry.example.com/acme/app:1.0@" + newDigest)
	latest := imageref.MustParse("nginx:latest@" + newDigest)
	tests := []struct {
		ref, updated string
		want         string
		skipped      bool
	}{
		{ref: "registry.example.com/acme/app:1.0", want: "registry.example.com/acme/app:1.0@" + newDigest},
		{ref: "registry.example.com/acme/app:1.0@" + oldDigest, want: "registry.example.com/acme/app:1.0@" + newDigest},
		{ref: "registry.example.com/acme/app@" + oldDigest, want: "registry.example.com/acme/app@" + newDigest},
		{ref: "registry.example.com/acme/app:1.0@" + newDigest, want: "registry.example.com/acme/app:1.0@" + newDigest},
		{ref: "REGISTRY.example.com/acme/app:1.0", want: "REGISTRY.example.com/acme/app:1.0@" + newDigest},
		{ref: "registry.example.com/acme/app:2.0", skipped: true},
		{ref: "registry.example.com/acme/app:2.0@" + oldDigest, skipped: true},
		{ref: "registry.example.com/acme/app", skipped: true},
		{ref: "nginx", updated: "latest", want: "nginx:latest@" + newDigest},
		{ref: "docker.io/library/nginx", updated: "latest", want: "docker.io/library/nginx:latest@" + newDigest},
		{ref: "nginx:1.25", updated: "latest", skipped: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			up := u
			if tt.updated == "latest" {
				up = latest
			}
			got, reason := pinned(imageref.MustParse(tt.ref), up)
			if (reason != "") != tt.skipped {
				t.Fatalf("pinned(%q) reason %q, want skipped=%v", tt.ref, reason, tt.skipped)
			}
			if got != tt.want {
				t.Errorf("pinned(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
}

func TestUpdateInvalidOptions(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	tests := map[string]Options{
		"no workspace":      {Image: imageref.MustParse(defaultImage)},
		"no image":          {Workspace: ws},
		"no digest":         {Workspace: ws, Image: imageref.MustParse("registry.example.com/acme/app:1.0")},
		"no tag":            {Workspace: ws, Image: imageref.MustParse("registry.example.com/acme/app@" + newDigest)},
		"helm no repo":      {Workspace: ws, Image: imageref.MustParse(defaultImage), Helm: []HelmPaths{{Tag: "image.tag"}}},
		"missing workspace": {Workspace: filepath.Join(ws, "nope"), Image: imageref.MustParse(defaultImage)},
		"bad glob":          {Workspace: ws, Image: imageref.MustParse(defaultImage), Paths: []string{"deploy/[.yaml"}},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := Update(context.Background(), opts); exitcode.Of(err) != exitcode.Invalid {
				t.Errorf("Update: %v (exit %d), want exit %d", err, exitcode.Of(err), exitcode.Invalid)
			}
		})
	}
}

// TestUpdateFileSelection covers the default file set, explicit globs and
// excludes.
func TestUpdateFileSelection(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"deploy/a.yaml":                  podYAML,
		"deploy/archive/old.yaml":        podYAML,
		"deploy/b.yml":                   podYAML,
		"deploy/notes.txt":               podYAML,
		".git/x.yaml":                    podYAML,
		"vendor/x.yaml":                  podYAML,
		"node_modules/pkg/x.yaml":        podYAML,
		"charts/app/templates/dep.yaml":  "image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n  bad: [\n",
		"Dockerfile":                     "FROM registry.example.com/acme/app:1.0\n",
		"build/web.Dockerfile":           "FROM registry.example.com/acme/app:1.0\n",
		"build/Containerfile":            "FROM registry.example.com/acme/app:2.0\n",
		"kustomize/Kustomization":        "images:\n- name: registry.example.com/acme/app\n  newTag: \"1.0\"\n",
		"deploy/other-image.yaml":        strings.ReplaceAll(podYAML, "acme/app", "acme/app-api"),
		"deploy/sub/dir/deep/pod.yaml":   podYAML,
		"deploy/sub/dir/deep/pod.yaml.b": podYAML,
	}
	tests := []struct {
		name           string
		paths, exclude []string
		want           []string
		wantErrs       int
	}{
		{
			name: "default set",
			want: []string{"Dockerfile", "build/web.Dockerfile", "deploy/a.yaml", "deploy/archive/old.yaml", "deploy/b.yml", "deploy/sub/dir/deep/pod.yaml", "kustomize/Kustomization"},
		},
		{
			name:    "globs and excludes",
			paths:   []string{"deploy/**/*.yaml", "Dockerfile"},
			exclude: []string{"deploy/archive/**"},
			want:    []string{"Dockerfile", "deploy/a.yaml", "deploy/sub/dir/deep/pod.yaml"},
		},
		{
			name:     "an explicitly selected template is an error",
			paths:    []string{"charts/**/*.yaml", "deploy/a.yaml"},
			want:     []string{"deploy/a.yaml"},
			wantErrs: 1,
		},
		{
			name:  "explicit paths may enter skipped folders",
			paths: []string{"vendor/*.yaml"},
			want:  []string{"vendor/x.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			writeFiles(t, ws, files)
			opts := testOptions(ws)
			opts.Paths, opts.Exclude, opts.DryRun = tt.paths, tt.exclude, true
			res, err := Update(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, res.Changed()); diff != "" {
				t.Errorf("Changed (-want +got):\n%s", diff)
			}
			errs := 0
			for _, f := range res.Files {
				if f.Error != "" {
					errs++
				}
			}
			if errs != tt.wantErrs {
				t.Errorf("%d files with errors, want %d: %+v", errs, tt.wantErrs, res.Files)
			}
		})
	}
}

func TestUpdateConfiguredHelmPaths(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{"values.yaml": `app:
  img:
    host: registry.example.com
    name: acme/app
    version: "1.0"
    sha: ""
image:
  repository: registry.example.com/acme/app
  tag: "1.0"
`})
	opts := testOptions(ws)
	opts.Helm = []HelmPaths{{Registry: "app.img.host", Repository: "app.img.name", Tag: "app.img.version", Digest: "app.img.sha"}}
	res, err := Update(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, o := range res.Files[0].Objects {
		for _, c := range o.Changes {
			fields = append(fields, fmt.Sprintf("%s=%s", c.Field, c.New))
		}
	}
	want := []string{"app.img.sha=" + newDigest, "image.tag=1.0@" + newDigest}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestRewriteYAMLNoChangeReturnsInput(t *testing.T) {
	t.Parallel()
	src := []byte("# nothing to do\nimage: registry.example.com/acme/app:1.0@" + newDigest + "\n")
	out, objects, skipped, _, err := RewriteYAML(src, RewriteOptions{Image: imageref.MustParse(defaultImage)})
	if err != nil || string(out) != string(src) || len(objects) != 0 || len(skipped) != 0 {
		t.Errorf("RewriteYAML = %q, %v, %v, %v; want the input unchanged", out, objects, skipped, err)
	}
}

func ExampleRewriteYAML() {
	src := []byte(`spec:
  containers:
  - name: web   # the app
    image: "registry.example.com/acme/app:1.0"
`)
	updated := imageref.MustParse("registry.example.com/acme/app:1.0@sha256:" + strings.Repeat("b", 64))
	out, objects, _, _, err := RewriteYAML(src, RewriteOptions{Image: updated})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	fmt.Println(objects[0].Changes[0].Field, objects[0].Changes[0].Line)
	// Output:
	// spec:
	//   containers:
	//   - name: web   # the app
	//     image: "registry.example.com/acme/app:1.0@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	// spec.containers[web].image 4
}

func ExampleUpdate() {
	ws, _ := os.MkdirTemp("", "cascade-example")
	defer os.RemoveAll(ws)
	_ = os.WriteFile(filepath.Join(ws, "kustomization.yaml"), []byte("images:\n- name: registry.example.com/acme/app\n  newTag: \"1.0\"\n"), 0o644)
	res, err := Update(context.Background(), Options{
		Workspace: ws,
		Image:     imageref.MustParse("registry.example.com/acme/app:1.0@sha256:" + strings.Repeat("b", 64)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(res.Summary())
	b, _ := os.ReadFile(filepath.Join(ws, "kustomization.yaml"))
	fmt.Print(string(b))
	// Output:
	// kustomization.yaml:4: images[0].digest:  -> sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
	// images:
	// - name: registry.example.com/acme/app
	//   newTag: "1.0"
	//   digest: sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
}
