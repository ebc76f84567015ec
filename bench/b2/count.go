package b2

import (
	"net/http"
	"strings"

	"github.com/imagecascade/cascade/internal/faultproxy"
)

// Counts are the requests one run made at the proxy, by kind.
type Counts struct {
	Ping, Token, HeadManifest, GetManifest, Blob, Other int
	// Base counts the manifest and blob requests for the base's
	// repository; Dependents those for the dependents' repositories.
	Base, Dependents int
	// PerRepo counts manifest requests by repository path and method.
	PerRepo map[string]RepoCounts
}

// RepoCounts are one repository's manifest requests.
type RepoCounts struct{ Head, Get int }

// Total is every request of the run.
func (c Counts) Total() int {
	return c.Ping + c.Token + c.HeadManifest + c.GetManifest + c.Blob + c.Other
}

// Count classifies the proxy's log of one run. baseRepo is the base's
// repository path ("bench/base").
func Count(reqs []faultproxy.Request, baseRepo string) Counts {
	c := Counts{PerRepo: map[string]RepoCounts{}}
	for _, r := range reqs {
		repo, kind := classify(r.Path)
		switch {
		case kind == "ping":
			c.Ping++
		case kind == "token":
			c.Token++
		case kind == "manifest" && r.Method == http.MethodHead:
			c.HeadManifest++
		case kind == "manifest" && r.Method == http.MethodGet:
			c.GetManifest++
		case kind == "blob":
			c.Blob++
		default:
			c.Other++
		}
		if repo == "" {
			continue
		}
		if repo == baseRepo {
			c.Base++
		} else {
			c.Dependents++
		}
		if kind == "manifest" {
			rc := c.PerRepo[repo]
			if r.Method == http.MethodHead {
				rc.Head++
			} else {
				rc.Get++
			}
			c.PerRepo[repo] = rc
		}
	}
	return c
}

// classify returns the repository and kind of a registry API path:
// "ping" (/v2/), "token", "manifest" or "blob" (/v2/NAME/manifests/REF,
// /v2/NAME/blobs/DIGEST), else "other".
func classify(path string) (repo, kind string) {
	switch {
	case path == "/v2/" || path == "/v2":
		return "", "ping"
	case path == "/token":
		return "", "token"
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "other"
	}
	for _, k := range []string{"manifests", "blobs"} {
		if i := strings.LastIndex(rest, "/"+k+"/"); i > 0 {
			return rest[:i], strings.TrimSuffix(k, "s")
		}
	}
	return "", "other"
}
