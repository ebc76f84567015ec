package report_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestGoldenJSONMatchesTheSchemas: the JSON goldens, which hold every
// status, evidence kind, action and dispatch status, are valid against
// docs/schemas — the schemas admit every value the renderers write.
func TestGoldenJSONMatchesTheSchemas(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"plan", "run", "update"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sch := compileSchema(t, name)
			f, err := os.Open(filepath.Join("testdata", "golden", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			inst, err := jsonschema.UnmarshalJSON(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("testdata/golden/%s.json: %v", name, err)
			}
		})
	}
}

// compileSchema compiles docs/schemas/<name>.schema.json strictly: the
// published schemas let keys be added within a schema version, but here
// every object that lists its properties admits no other, so a key added
// to an output without its schema fails the test. Relative $refs resolve
// to the files next to it, never to the network.
func compileSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s: %v", dir, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		closeObjects(doc)
		if err := c.AddResource("file://"+filepath.ToSlash(path), doc); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile("file://" + filepath.ToSlash(filepath.Join(dir, name+".schema.json")))
	if err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	return sch
}

// closeObjects sets additionalProperties false on every object schema
// under v that lists properties and says nothing of others.
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		if v["type"] == "object" && v["properties"] != nil && v["additionalProperties"] == nil {
			v["additionalProperties"] = false
		}
		for _, e := range v {
			closeObjects(e)
		}
	case []any:
		for _, e := range v {
			closeObjects(e)
		}
	}
}
