package config

import (
	"slices"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
)

func TestClustersParseAndValidate(t *testing.T) {
	t.Parallel()
	base := string(Example())
	good := base + `
clusters:
  - name: prod
    context: prod-admin
    namespaces: [apps, web]
    kinds: [Deployment, CronJob]
  - name: staging
    namespaces: ["*"]
`
	c, err := Parse([]byte(good), "cascade.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Clusters) != 2 || c.Clusters[0].Context != "prod-admin" || !slices.Equal(c.Clusters[1].Namespaces, []string{"*"}) {
		t.Errorf("clusters: %+v", c.Clusters)
	}
	bad := base + `
clusters:
  - name: prod
    namespaces: []
  - name: prod
    namespaces: ["*", apps, "Not_A_Namespace"]
    kinds: [Pod]
  - namespaces: [apps]
`
	_, err = Parse([]byte(bad), "cascade.yaml")
	if exitcode.Of(err) != exitcode.Invalid {
		t.Fatalf("bad clusters: %v", err)
	}
	want := []string{"clusters[0].namespaces", "clusters[1].name", "clusters[1].namespaces[0]", "clusters[1].namespaces[2]", "clusters[1].kinds[0]", "clusters[2].name"}
	got := paths(err)
	for _, p := range want {
		if !slices.Contains(got, p) {
			t.Errorf("no error at %s; got %v", p, got)
		}
	}
}
