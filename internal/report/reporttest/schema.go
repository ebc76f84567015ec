package reporttest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CompileSchema compiles docs/schemas/<name>.schema.json strictly: the
// published schemas let keys be added within a schema version, but here
// every object that lists its properties admits no other, so a key added
// to an output without its schema fails the test. Relative $refs resolve
// to the files next to it, never to the network.
func CompileSchema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	// Tests run in their package's folder, internal/<package>.
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
