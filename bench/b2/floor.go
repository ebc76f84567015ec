package b2

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/imagecascade/cascade/internal/faultproxy"
)

// FloorName names the ideal client in the results.
const FloorName = "ideal client"

// scopesPerToken mirrors cascade's batching of repositories per token, so
// the registry verifies tokens of the same size.
const scopesPerToken = 100

// Floor is the ideal client for the registry requests of one cascade run
// (what requests returns: its manifest and blob requests; pings and
// tokens are replaced by tokens minted beforehand): the same requests,
// concurrency at a time, with nothing between them. Its wall time is what
// this registry, behind this proxy, on this machine, allows for them —
// the limit's assumption that only the latency counts, measured.
func (e *Env) Floor(requests func() []faultproxy.Request, concurrency int) Tool {
	var (
		once   sync.Once
		tokens map[string]string // by repository
		err    error
	)
	mint := func(reqs []faultproxy.Request) {
		var repos []string
		for _, r := range reqs {
			if repo, _ := classify(r.Path); repo != "" && !slices.Contains(repos, repo) {
				repos = append(repos, repo)
			}
		}
		slices.Sort(repos)
		tokens = map[string]string{}
		for batch := range slices.Chunk(repos, scopesPerToken) {
			var g []access
			for _, r := range batch {
				g = append(g, access{Type: "repository", Name: r, Actions: []string{"pull"}})
			}
			var tok string
			if tok, err = e.iss.token(g); err != nil {
				return
			}
			for _, r := range batch {
				tokens[r] = tok
			}
		}
	}
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return Tool{Name: FloorName, Func: func(ctx context.Context, _ io.Writer) error {
		var todo []faultproxy.Request
		for _, r := range requests() {
			if repo, _ := classify(r.Path); repo != "" {
				todo = append(todo, r)
			}
		}
		if len(todo) == 0 {
			return fmt.Errorf("no cascade requests to replay")
		}
		once.Do(func() { mint(todo) })
		if err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(concurrency)
		for _, r := range todo {
			g.Go(func() error {
				repo, _ := classify(r.Path)
				u := "http://" + e.Host + r.Path
				if r.RawQuery != "" {
					u += "?" + r.RawQuery
				}
				req, err := http.NewRequestWithContext(gctx, r.Method, u, nil)
				if err != nil {
					return err
				}
				req.Header.Set("Authorization", "Bearer "+tokens[repo])
				req.Header.Set("Accept", manifestTypes)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 400 {
					return fmt.Errorf("%s %s: %s", r.Method, r.Path, resp.Status)
				}
				return nil
			})
		}
		return g.Wait()
	}}
}

// manifestTypes is the Accept header of a manifest request.
const manifestTypes = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
