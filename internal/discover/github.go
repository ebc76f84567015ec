package discover

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-github/v60/github"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dockerfile"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// DeclarationFile is where a repository declares its images: the same
// .github/cascade.yaml an application keeps to continue the cascade.
const DeclarationFile = ".github/cascade.yaml"

// DefaultGitHubConcurrency bounds the repositories read at once. GitHub's
// secondary limits allow 100 concurrent requests per client; 8 keeps
// discovery far below them and still hides most of each round trip.
const DefaultGitHubConcurrency = 8

// maxDockerfileBytes bounds a Dockerfile read, as the engine does.
const maxDockerfileBytes = 1 << 20

// GitHub discovers the repositories of an owner that carry a topic. Each
// one's DeclarationFile, read through the contents API at the default
// branch (never a clone), declares images; an image entry with a
// dockerfile has that Dockerfile read too, and its FROM lines become the
// image's bases. An entry without a rebuild is rebuilt by a
// repository_dispatch to its own repository.
//
// A repository can only declare its own rebuild: a repository_dispatch or
// workflow_dispatch to itself. An entry that would make cascade do anything
// else (dispatch to another repository, call a webhook, create a
// PipelineRun, rebase an image in the registry) is skipped, so that adding
// a topic to a repository grants nothing its owners could not do already.
//
// Requests: ⌈repositories/100⌉ listing pages (a user's repositories cost
// one more, the organisation listing's 404), and one per topic-carrying
// repository, plus one per Dockerfile it names; the reads start while the
// listing goes on.
type GitHub struct {
	// Client is built by githubapi (outbound policy, read retries that
	// honour Retry-After and the rate-limit headers).
	Client *github.Client
	Owner  string
	Topic  string
	// Concurrency bounds the repositories read at once
	// (DefaultGitHubConcurrency when zero).
	Concurrency int
}

var _ Source = (*GitHub)(nil)

// Name implements Source.
func (g *GitHub) Name() string { return "github:" + g.Owner + " (topic " + g.Topic + ")" }

// Discover implements Source.
//
// The listing and the reads overlap: each listing page's topic-carrying
// repositories start being read (at most Concurrency at once) while the
// next page is listed, so a client pays the listing's later round trips
// only where they are longer than the reads. At most Concurrency reads
// and the one listing request are in flight. The result does not depend
// on the order the reads finish in: repositories in order of their full
// names, each one's images and skipped declarations in file order.
func (g *GitHub) Discover(ctx context.Context) (*Found, error) {
	limit := g.Concurrency
	if limit <= 0 {
		limit = DefaultGitHubConcurrency
	}
	type result struct {
		repo string
		f    *Found
	}
	var (
		mu      sync.Mutex
		results []result
	)
	eg, ctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, limit)
	seen := map[string]bool{} // only the listing goroutine touches it
	read := func(r *github.Repository) {
		full := r.GetFullName()
		if seen[full] {
			// A repository created or renamed while the listing pages
			// through can show up twice; it is read once.
			return
		}
		seen[full] = true
		eg.Go(func() error {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			defer func() { <-slots }()
			f, err := g.read(ctx, r)
			if err != nil {
				return fmt.Errorf("reading %s: %w", full, err)
			}
			mu.Lock()
			results = append(results, result{full, f})
			mu.Unlock()
			return nil
		})
	}
	eg.Go(func() error { return g.list(ctx, read) })
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(results, func(a, b result) int { return strings.Compare(a.repo, b.repo) })
	out := &Found{}
	for _, r := range results {
		out.Images = append(out.Images, r.f.Images...)
		out.Skipped = append(out.Skipped, r.f.Skipped...)
	}
	return out, nil
}

// list pages through the owner's repositories and hands each unarchived
// one carrying the topic to read, a page at a time, from one goroutine.
// The organisation listing is asked first; its 404 means the owner is a
// user.
func (g *GitHub) list(ctx context.Context, read func(*github.Repository)) error {
	page := 0
	for n := 0; ; n++ {
		if n > 1000 {
			return errors.New("listing repositories: more than 1000 pages")
		}
		opts := github.ListOptions{PerPage: 100, Page: page}
		rs, resp, err := g.Client.Repositories.ListByOrg(ctx, g.Owner, &github.RepositoryListByOrgOptions{Type: "all", ListOptions: opts})
		if n == 0 && status(resp) == http.StatusNotFound {
			return g.listUser(ctx, read)
		}
		if err != nil {
			return apiError("listing the repositories of "+g.Owner, resp, err)
		}
		g.pass(rs, read)
		if resp.NextPage == 0 {
			return nil
		}
		page = resp.NextPage
	}
}

func (g *GitHub) listUser(ctx context.Context, read func(*github.Repository)) error {
	page := 0
	for n := 0; ; n++ {
		if n > 1000 {
			return errors.New("listing repositories: more than 1000 pages")
		}
		rs, resp, err := g.Client.Repositories.ListByUser(ctx, g.Owner, &github.RepositoryListByUserOptions{Type: "owner", ListOptions: github.ListOptions{PerPage: 100, Page: page}})
		if err != nil {
			if status(resp) == http.StatusNotFound {
				return exitcode.AsInvalid(fmt.Errorf("listing the repositories of %s: no such organisation or user, or the token cannot see it", g.Owner))
			}
			return apiError("listing the repositories of "+g.Owner, resp, err)
		}
		g.pass(rs, read)
		if resp.NextPage == 0 {
			return nil
		}
		page = resp.NextPage
	}
}

// pass hands a page's unarchived repositories carrying the topic to read.
func (g *GitHub) pass(page []*github.Repository, read func(*github.Repository)) {
	for _, r := range page {
		if r.GetArchived() || !slices.Contains(r.Topics, g.Topic) {
			continue
		}
		read(r)
	}
}

// read reads one repository's declarations.
func (g *GitHub) read(ctx context.Context, r *github.Repository) (*Found, error) {
	full := r.GetFullName()
	owner, name, _ := strings.Cut(full, "/")
	ref := r.GetDefaultBranch()
	data, sha, err := g.file(ctx, owner, name, DeclarationFile, ref, config.MaxFileSize)
	if errors.Is(err, errNoFile) {
		return &Found{Skipped: []Skipped{{Source: "github:" + full, Reason: fmt.Sprintf("carries the topic %s but has no %s on %s", g.Topic, DeclarationFile, ref)}}}, nil
	}
	if err != nil {
		return nil, err
	}
	source := "github:" + full + "@" + sha[:min(12, len(sha))]
	f, paths := parseRepoDeclarations(source, full, data)
	var keep []config.Image
	for i, im := range f.Images {
		if im.Dockerfile == "" {
			keep = append(keep, im)
			continue
		}
		df, _, err := g.file(ctx, owner, name, im.Dockerfile, ref, maxDockerfileBytes)
		if errors.Is(err, errNoFile) {
			f.Skipped = append(f.Skipped, Skipped{Source: source, Path: paths[i] + ".dockerfile", Reason: fmt.Sprintf("%s does not exist on %s", im.Dockerfile, ref)})
			continue
		}
		if err != nil {
			return nil, err
		}
		bases, err := dockerfileFrom(im.Dockerfile, df)
		if err != nil {
			f.Skipped = append(f.Skipped, Skipped{Source: source, Path: paths[i] + ".dockerfile", Reason: err.Error()})
			continue
		}
		// The Dockerfile lives in the dependent's repository, not in this
		// run's workspace: its bases become explicit ones.
		im.From = append(im.From, bases...)
		im.Dockerfile = ""
		keep = append(keep, im)
	}
	f.Images = keep
	return f, nil
}

var errNoFile = errors.New("no such file")

// file reads a file through the contents API and returns it with its blob
// sha; errNoFile when it does not exist.
func (g *GitHub) file(ctx context.Context, owner, repo, p, ref string, limit int) ([]byte, string, error) {
	fc, _, resp, err := g.Client.Repositories.GetContents(ctx, owner, repo, p, &github.RepositoryContentGetOptions{Ref: ref})
	if status(resp) == http.StatusNotFound {
		return nil, "", errNoFile
	}
	if err != nil {
		return nil, "", apiError("reading "+p, resp, err)
	}
	if fc == nil || fc.GetType() != "file" {
		return nil, "", errNoFile
	}
	if fc.GetSize() > limit {
		return nil, "", exitcode.AsInvalid(fmt.Errorf("reading %s: larger than %d bytes", p, limit))
	}
	s, err := fc.GetContent()
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", p, err)
	}
	return []byte(s), fc.GetSHA(), nil
}

func status(resp *github.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

// apiError classifies a failed API call: refused credentials or access
// (401, 403 without a rate limit) are invalid input, the rest transient.
func apiError(what string, resp *github.Response, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	switch s := status(resp); {
	case s == http.StatusUnauthorized, s == http.StatusForbidden && resp.Rate.Remaining > 0:
		return exitcode.AsInvalid(err)
	case s != 0 && s < 500 && s != http.StatusTooManyRequests && s != http.StatusForbidden && s != http.StatusRequestTimeout:
		return exitcode.AsInvalid(err)
	}
	return exitcode.AsTransient(err)
}

// parseRepoDeclarations reads the images a repository's cascade.yaml
// declares. Each entry is checked alone, strictly, as the base's config
// would be; an entry without a rebuild gets a repository_dispatch to repo.
// The rest of the file (manifests, limits, discover) is the repository's
// own business and is not read. paths are the field paths of the images.
func parseRepoDeclarations(source, repo string, data []byte) (f *Found, paths []string) {
	f = &Found{}
	skip := func(p, format string, args ...any) {
		f.Skipped = append(f.Skipped, Skipped{Source: source, Path: p, Reason: fmt.Sprintf(format, args...)})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		skip("", "parsing %s: %v", DeclarationFile, err)
		return f, nil
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		skip("", "%s is not a mapping", DeclarationFile)
		return f, nil
	}
	root := doc.Content[0]
	var images *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "version":
			if v := root.Content[i+1].Value; v != "1" {
				skip("version", "must be %d, got %q", config.Version, v)
				return f, nil
			}
		case "images":
			images = root.Content[i+1]
		}
	}
	if images == nil || images.Kind != yaml.SequenceNode || len(images.Content) == 0 {
		skip("images", "declares no image")
		return f, nil
	}
	for i, item := range images.Content {
		p := fmt.Sprintf("images[%d]", i)
		im, problems := parseEntry(source, p, repo, item)
		if len(problems) > 0 {
			f.Skipped = append(f.Skipped, problems...)
			continue
		}
		f.Images = append(f.Images, im)
		paths = append(paths, p)
	}
	return f, paths
}

// parseEntry decodes one image entry as a one-image config, so that every
// rule of config.Parse (strict keys, templates, limits of the platforms)
// holds for it.
func parseEntry(source, p, repo string, item *yaml.Node) (config.Image, []Skipped) {
	bad := func(path, format string, args ...any) []Skipped {
		return []Skipped{{Source: source, Path: path, Reason: fmt.Sprintf(format, args...)}}
	}
	if item.Kind != yaml.MappingNode {
		return config.Image{}, bad(p, "must be a mapping")
	}
	entry := *item
	entry.Content = slices.Clone(item.Content)
	hasRebuild := false
	for i := 0; i+1 < len(entry.Content); i += 2 {
		if entry.Content[i].Value == "rebuild" {
			hasRebuild = true
		}
	}
	if !hasRebuild {
		entry.Content = append(entry.Content, scalar("rebuild"), mapping(scalar("github"), mapping(scalar("repository"), scalar(repo))))
	}
	one := mapping(scalar("version"), scalar("1"), scalar("images"), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{&entry}})
	text, err := yaml.Marshal(one)
	if err != nil {
		return config.Image{}, bad(p, "%v", err)
	}
	cfg, err := config.Parse(text, source)
	if err != nil {
		fes := config.FieldErrors(err)
		if len(fes) == 0 {
			return config.Image{}, bad(p, "%v", err)
		}
		var out []Skipped
		for _, fe := range fes {
			path := fe.Path
			if rest, ok := strings.CutPrefix(path, "images[0]"); ok {
				path = p + rest
			}
			out = append(out, Skipped{Source: source, Path: path, Reason: fe.Msg})
		}
		return config.Image{}, out
	}
	im := cfg.Images[0]
	switch rb := im.Rebuild; {
	case rb.GitHub != nil && !strings.EqualFold(rb.GitHub.Repository, repo):
		return config.Image{}, bad(p+".rebuild.github.repository", "%q: a repository can only declare its own rebuild (%s)", rb.GitHub.Repository, repo)
	case rb.GitHub == nil:
		// A rebase would rewrite the tag of whatever image the entry
		// names with cascade's registry credentials, a webhook or a
		// PipelineRun would reach beyond the repository.
		return config.Image{}, bad(p+".rebuild."+rb.Kind(), "a repository can only declare a GitHub dispatch to itself (%s)", repo)
	}
	im.DeclaredBy = source
	return im, nil
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

func mapping(kv ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: kv} }

// dockerfileFrom returns the bases a Dockerfile's FROM lines name, as
// written. A base that needs a build argument without a default is left
// out (it cannot be known from the file); the entry's from: can name it.
func dockerfileFrom(name string, data []byte) ([]string, error) {
	if len(data) > maxDockerfileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxDockerfileBytes)
	}
	df, err := dockerfile.Parse(data, dockerfile.ParseOptions{})
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path.Base(name), err)
	}
	var out []string
	for _, b := range df.Bases {
		if b.Unresolved != "" {
			continue
		}
		if _, err := imageref.Parse(b.Ref); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, b.Line, err)
		}
		out = append(out, b.Ref)
	}
	return out, nil
}
