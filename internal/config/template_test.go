package config

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	t.Parallel()
	data := SampleTemplateData()
	tests := []struct {
		name, tmpl, want string
	}{
		{"plain text", "main", "main"},
		{"base ref", "{{ .Base.Ref }}", data.Base.Ref},
		{"short digest", "{{ .Base.Digest | short }}", "111111111111"},
		{"short of a ref", "{{ short .Image.Digest }}", "222222222222"},
		{"lower upper", "{{ upper .Image.Name }}/{{ lower \"ABC\" }}", "APP-A/abc"},
		{"join chain", `{{ join .Cascade.Chain " > " }}`, "centos > httpd-base"},
		{"depth", "depth={{ .Cascade.Depth }}", "depth=2"},
		{"if else", `{{ if eq .Base.Tag "latest" }}rolling{{ else }}{{ .Base.Tag }}{{ end }}`, "rolling"},
		{"with", `{{ with .Cascade.Origin }}{{ . }}{{ end }}`, data.Cascade.Origin},
		{"index and len", `{{ index .Cascade.Chain 0 }}:{{ len .Cascade.Chain }}`, "centos:2"},
		{"variables", `{{ $b := .Base }}{{ $b.Name }}`, "httpd-base"},
		{"shell metacharacters are data", "$(id) `id` {{ .Base.Tag }}", "$(id) `id` latest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Render(tt.tmpl, data)
			if err != nil {
				t.Fatalf("Render(%q) = %v", tt.tmpl, err)
			}
			if got != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.tmpl, got, tt.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, tmpl, want string
	}{
		{"unknown field", "{{ .Base.Nope }}", "can't evaluate field Nope"},
		{"unknown top-level field", "{{ .Nope }}", "can't evaluate field Nope"},
		{"unclosed action", "{{ .Base.Ref", "unclosed action"},
		{"unknown function", "{{ env \"HOME\" }}", `function "env" not defined`},
		{"printf", `{{ printf "%0999999999d" 1 }}`, `function "printf" is not allowed`},
		{"call", `{{ call .Base.Name }}`, `function "call" is not allowed`},
		{"range", "{{ range .Cascade.Chain }}{{ . }}{{ end }}", "range is not allowed"},
		{"define", `{{ define "x" }}a{{ end }}b`, "define and block are not allowed"},
		{"template call", `{{ template "value" }}`, "template calls are not allowed"},
		{"block", `{{ block "x" . }}a{{ end }}`, "define and block are not allowed"},
		{"too long", strings.Repeat("a", maxTemplateLen+1), "template longer than"},
		{"output over cap", "{{ $r := .Base.Ref }}" + strings.Repeat("{{ print $r $r $r $r $r $r $r $r }}", 200), "output longer than"},
		{"index out of range", "{{ index .Cascade.Chain 9 }}", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Render(tt.tmpl, SampleTemplateData())
			if err == nil {
				t.Fatalf("Render(%.60q…) = %d bytes, want an error", tt.tmpl, len(got))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render(%q) error %q does not contain %q", tt.tmpl, err, tt.want)
			}
		})
	}
}

// TestRenderCascadeAsJSON: {{ json .Cascade }} is the shape
// --cascade-context reads back.
func TestRenderCascadeAsJSON(t *testing.T) {
	t.Parallel()
	got, err := Render("{{ json .Cascade }}", SampleTemplateData())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"app-a-111111111111","depth":2,"chain":["centos","httpd-base"],"origin":"quay.io/centos/centos@sha256:3333333333333333333333333333333333333333333333333333333333333333"}`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
