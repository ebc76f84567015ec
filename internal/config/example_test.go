package config_test

import (
	"fmt"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
)

func ExampleParse() {
	c, err := config.Parse(config.Example(), "cascade.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, img := range c.Images {
		fmt.Println(img.Name, img.Rebuild.Kind())
	}
	// Output:
	// httpd-base github
	// app-a tekton
	// app-b github
	// app-c webhook
	// static-site rebase
}

func ExampleParse_invalid() {
	_, err := config.Parse([]byte(`version: 1
images:
  - name: app-a
    image: registry.example.com/acme/app-a:latest
    rebuild:
      tekton: {namespace: ci}
`), "cascade.yaml")
	fmt.Println(err)
	fmt.Println("exit", exitcode.Of(err))
	// Output:
	// invalid config cascade.yaml:
	// images[0].rebuild.tekton.pipeline: required (or pipelineRef) (line 6)
	// exit 2
}

func ExampleRender() {
	data := config.SampleTemplateData()
	out, err := config.Render("{{ .Base.Ref }} ({{ short .Base.Digest }}, depth {{ .Cascade.Depth }})", data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out)
	// Output:
	// registry.example.com/acme/httpd-base@sha256:1111111111111111111111111111111111111111111111111111111111111111 (111111111111, depth 2)
}
