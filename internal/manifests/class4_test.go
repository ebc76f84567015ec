package manifests

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
)

// TestClass4_NoSilentSkips: every reference to the updated repository is
// either pinned or reported with a true reason: kustomize entries whose
// newName holds a whole reference (pinned), whose name holds a tag
// (reported), whose newTag holds a digest (the updated tag: pinned); image
// fields with a malformed or non-sha256 digest (reported); an entry
// followed by a comment (pinned, the comment kept).
func TestClass4_NoSilentSkips(t *testing.T) {
	t.Parallel()
	const old = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	const nd = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	const postgres = "postgres:11@" + nd
	tests := []struct {
		name, image, src, want string
		kustomization          bool
		skipped                []Skip
	}{
		{
			name:          "newName holding a whole reference with a digest",
			image:         "awesome/postgres:11@" + nd,
			kustomization: true,
			src:           "images:\n- name: postgres\n  newName: awesome/postgres:11@" + old + "\n",
			want:          "images:\n- name: postgres\n  newName: awesome/postgres:11@" + nd + "\n",
		},
		{
			name:          "newName holding a whole reference without a digest",
			image:         "awesome/postgres:11@" + nd,
			kustomization: true,
			src:           "images:\n- name: postgres\n  newName: awesome/postgres:11\n",
			want:          "images:\n- name: postgres\n  newName: awesome/postgres:11@" + nd + "\n",
		},
		{
			name:          "newName holding another tag",
			image:         "awesome/postgres:11@" + nd,
			kustomization: true,
			src:           "images:\n- name: postgres\n  newName: awesome/postgres:12\n",
			skipped:       []Skip{{Line: 3, Field: "images[0].newName", Ref: "awesome/postgres:12", Reason: `tag "12" is not the updated tag "11"`}},
		},
		{
			name:          "newName holding a whole reference and newTag",
			image:         "awesome/postgres:11@" + nd,
			kustomization: true,
			src:           "images:\n- name: postgres\n  newName: awesome/postgres:11\n  newTag: \"11\"\n",
			skipped:       []Skip{{Line: 3, Field: "images[0].newName", Ref: "awesome/postgres:11", Reason: "newName holds a whole reference and the entry has newTag or digest too, which kustomize would append to it; not pinned"}},
		},
		{
			name:          "name holding a tag",
			image:         postgres,
			kustomization: true,
			src:           "images:\n- name: postgres:11\n  newTag: \"11\"\n",
			skipped:       []Skip{{Line: 2, Field: "images[0].name", Ref: "postgres:11", Reason: "name holds a tag or digest: the entry only matches images written so, and a digest set on it would replace their tag (kustomize writes REPO@digest); not pinned"}},
		},
		{
			name:          "newTag holding the updated tag and an old digest",
			image:         postgres,
			kustomization: true,
			src:           "images:\n- name: postgres\n  newTag: 11@" + old + "\n",
			want:          "images:\n- name: postgres\n  newTag: 11@" + nd + "\n",
		},
		{
			name:          "newTag holding another tag and a digest",
			image:         postgres,
			kustomization: true,
			src:           "images:\n- name: postgres\n  newTag: 12@" + old + "\n",
			skipped:       []Skip{{Line: 3, Field: "images[0].newTag", Ref: "postgres:12@" + old, Reason: `newTag "12" is not the updated tag "11"`}},
		},
		{
			name:          "entry followed by a comment line",
			image:         postgres,
			kustomization: true,
			src:           "images:\n- name: postgres\n  newTag: \"11\"\n  # keep in step with the chart\nresources:\n- db.yaml\n",
			want:          "images:\n- name: postgres\n  newTag: \"11\"\n  digest: " + nd + "\n  # keep in step with the chart\nresources:\n- db.yaml\n",
		},
		{
			name:          "entry followed by a comment line before the next entry",
			image:         postgres,
			kustomization: true,
			src:           "images:\n- name: postgres\n  newTag: \"11\" # pinned by cascade\n# the cache\n- name: redis\n  newTag: \"7\"\n",
			want:          "images:\n- name: postgres\n  newTag: \"11\" # pinned by cascade\n  digest: " + nd + "\n# the cache\n- name: redis\n  newTag: \"7\"\n",
		},
		{
			name:    "malformed digest",
			image:   postgres,
			src:     "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: db\n    image: postgres:11@sha256:abc\n",
			skipped: []Skip{{Line: 6, Field: "spec.containers[db].image", Ref: "postgres:11@sha256:abc", Reason: `digest "sha256:abc" is malformed (want sha256: and 64 lowercase hex digits); not pinned`}},
		},
		{
			name:    "sha512 digest",
			image:   postgres,
			src:     "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: db\n    image: postgres:11@sha512:" + strings.Repeat("c", 128) + "\n",
			skipped: []Skip{{Line: 6, Field: "spec.containers[db].image", Ref: "postgres:11@sha512:" + strings.Repeat("c", 128), Reason: `digest "sha512:` + strings.Repeat("c", 128) + `" is not a sha256 digest, the only kind cascade pins; not pinned`}},
		},
		{
			name:  "malformed digest of another repository is not reported",
			image: postgres,
			src:   "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: db\n    image: mysql:8@sha256:abc\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, skipped, _, err := RewriteYAML([]byte(tt.src), RewriteOptions{Image: imageref.MustParse(tt.image), Kustomization: tt.kustomization})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = tt.src
			}
			if diff := cmp.Diff(want, string(out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.skipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}
