package manifests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// maxInFlight bounds the files being processed at once. A worker both
// computes (parse, rewrite, verify: CPU) and waits (reads, fsyncs: disk),
// so there are several per CPU to keep both busy.
const maxInFlight = 16

// errWritePanicked stops the other writes when one panicked.
var errWritePanicked = errors.New("a write panicked")

// Update pins opts.Image's digest in the selected files of the workspace.
//
// Every path is checked first (discover refuses one leaving the workspace,
// exitcode.AsRefused, before anything is read or written); then each file
// is read, rewritten, verified and — unless opts.DryRun — written
// atomically as soon as it is verified, so the disk's fsyncs overlap the
// parsing of the next files. A file that cannot be processed (invalid or
// hostile YAML) is reported in its FileResult and left alone without
// stopping the others; Result.Err collects those errors. The returned error
// is for the whole run: invalid options (exitcode.AsInvalid), a refused
// path, a failed write (no further write starts; the files written before
// it stay written, each one whole, and the result lists the files
// processed so far).
func Update(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	lim := opts.Limits.withDefaults()
	helm := opts.Helm
	if helm == nil {
		helm = DefaultHelmPaths()
	}
	root, err := os.OpenRoot(opts.Workspace)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("opening workspace: %w", err))
	}
	defer root.Close()
	files, err := discover(root, opts.Paths, opts.Exclude)
	if err != nil {
		return nil, err
	}
	// Files are independent. They are handled a folder at a time: the
	// folder is opened once (every open below the workspace root checks
	// each path component), its files are read, rewritten, verified and
	// written, and the folder is synced once after its renames.
	results := make([]FileResult, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxInFlight)
	var panicked atomic.Pointer[any]
	for _, fd := range byFolder(files) {
		g.Go(func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					panicked.CompareAndSwap(nil, &v)
					err = errWritePanicked
				}
			}()
			return processFolder(gctx, root, fd, files, results, opts, helm, lim)
		})
	}
	err = g.Wait()
	if v := panicked.Load(); v != nil {
		panic(*v)
	}
	res := &Result{}
	for _, fr := range results {
		if fr.Path != "" && (fr.Changed() || len(fr.Skipped) > 0 || fr.err != nil) {
			res.Files = append(res.Files, fr)
		}
	}
	if err != nil {
		return res, err
	}
	return res, nil
}

// folder is the indexes (into the sorted candidates) of one folder's files.
type folder struct {
	dir   string
	files []int
}

// byFolder groups sorted candidates by their folder.
func byFolder(files []candidate) []folder {
	var out []folder
	for i, c := range files {
		dir := path.Dir(c.path)
		if len(out) == 0 || out[len(out)-1].dir != dir {
			out = append(out, folder{dir: dir})
		}
		out[len(out)-1].files = append(out[len(out)-1].files, i)
	}
	return out
}

// processFolder processes, and unless opts.DryRun writes, the files of one
// folder into results, then syncs the folder when it renamed anything.
func processFolder(ctx context.Context, root *os.Root, fd folder, files []candidate, results []FileResult, opts Options, helm []HelmPaths, lim Limits) error {
	dir := root
	if fd.dir != "." {
		// A folder that cannot be opened as a root (such as a symbolic
		// link to a folder elsewhere in the workspace) is read through
		// the workspace root, component by component, like any path.
		if sub, err := root.OpenRoot(fd.dir); err == nil {
			defer sub.Close()
			dir = sub
		}
	}
	name := func(p string) string {
		if dir == root {
			return p
		}
		return path.Base(p)
	}
	wrote := false
	defer func() {
		if wrote {
			syncDir(dir, path.Dir(name(files[fd.files[0]].path)))
		}
	}()
	for _, i := range fd.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := files[i]
		fr := processFile(dir, name(c.path), c, opts, helm, lim)
		results[i] = fr
		if opts.DryRun || !fr.Changed() {
			continue
		}
		if err := writeAtomic(dir, name(c.path), c.path, fr.updated, opts.Write); err != nil {
			return err
		}
		wrote = true
	}
	return nil
}

// processFile reads, rewrites and verifies one file, name in dir (c.path
// in the workspace). A zero Path means the file is not a format cascade
// edits.
func processFile(dir *os.Root, name string, c candidate, opts Options, helm []HelmPaths, lim Limits) FileResult {
	fr := FileResult{Path: c.path, Format: formatOf(c.path)}
	if c.skip != "" {
		fr.Skipped = append(fr.Skipped, Skip{Reason: c.skip})
		return fr
	}
	if fr.Format == "" {
		return FileResult{} // selected by a glob, but not a format cascade edits
	}
	data, err := readFile(dir, name, c.path, lim.MaxFileBytes)
	if err == nil && fr.Format == "yaml" && len(opts.Paths) == 0 && canSkipParse(data, opts.Image, lim) {
		return FileResult{} // cannot name the image: nothing to do, nothing to report
	}
	if err == nil {
		err = rewriteFile(&fr, data, opts.Image, helm, lim, len(opts.Paths) == 0)
	}
	if err != nil {
		// In the default file set, YAML that does not parse (such as a Helm
		// template) is simply not a manifest; hostile input and explicitly
		// selected files are errors.
		if len(opts.Paths) == 0 && fr.Format != "dockerfile" && !errors.Is(err, errLimit) && exitcode.Of(err) != exitcode.Refused {
			fr.Skipped = append(fr.Skipped, Skip{Reason: "not parsed: " + err.Error()})
		} else {
			fr.err = fmt.Errorf("%s: %w", c.path, err)
			fr.Error = err.Error()
		}
		fr.Objects = nil
	}
	return fr
}

func formatOf(p string) string {
	switch {
	case isDockerfile(p):
		return "dockerfile"
	case isYAML(p):
		return "yaml"
	}
	return ""
}

// readFile reads name in dir (p in the workspace), a regular file,
// refusing it past max bytes without reading it all.
func readFile(dir *os.Root, name, p string, max int64) ([]byte, error) {
	f, err := dir.Open(name)
	if err != nil {
		if isEscape(err) {
			return nil, exitcode.AsRefused(fmt.Errorf("reading %q: leaves the workspace", p))
		}
		return nil, fmt.Errorf("reading: %w", err)
	}
	defer f.Close()
	size := int64(512)
	if fi, err := f.Stat(); err == nil {
		if fi.Size() > max {
			return nil, exitcode.AsInvalid(fmt.Errorf("%w: %d bytes, over the limit of %d", errLimit, fi.Size(), max))
		}
		size = fi.Size() + 1 // one more, to see EOF without growing
	}
	// io.ReadAll, with the buffer sized from the start.
	lr, data := io.LimitReader(f, max+1), make([]byte, 0, size)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading: %w", err)
		}
	}
	if int64(len(data)) > max {
		return nil, exitcode.AsInvalid(fmt.Errorf("%w: over the limit of %d bytes", errLimit, max))
	}
	return data, nil
}

// rewriteFile computes and verifies the new content of one file into fr.
func rewriteFile(fr *FileResult, data []byte, image imageref.Ref, helm []HelmPaths, lim Limits, prefilter bool) error {
	fr.original = data
	if fr.Format == "dockerfile" {
		return rewriteDockerfile(fr, data, image)
	}
	updated, objects, skipped, format, err := RewriteYAML(data, RewriteOptions{
		Image: image, Helm: helm, Limits: lim, Kustomization: isKustomizationFile(fr.Path), Prefilter: prefilter,
	})
	fr.Format = format
	fr.Skipped = append(fr.Skipped, skipped...)
	if err != nil {
		return err
	}
	fr.Objects = objects
	fr.updated = updated
	return nil
}

// RewriteOptions configures RewriteYAML.
type RewriteOptions struct {
	// Image is the updated image (REPO:TAG@sha256:…).
	Image imageref.Ref
	// Helm lists the Helm values layouts; nil means DefaultHelmPaths.
	Helm []HelmPaths
	// Limits bound the parse; zero fields take defaults.
	Limits Limits
	// Kustomization treats documents without kind as kustomizations (the
	// file is named kustomization.yaml).
	Kustomization bool
	// Prefilter parses, of a file of several documents, only those that
	// might name the image (as the default file set does with whole
	// files): a syntax error in another document then goes unseen.
	Prefilter bool
}

// RewriteYAML pins the updated image in one YAML file's content. It returns
// the new content (src itself when nothing changed), the objects with their
// changes, the references left alone, the detected format, and an error —
// classified exitcode.AsInvalid — when src cannot be parsed within the
// limits or the rewrite failed verification. It does no I/O.
func RewriteYAML(src []byte, o RewriteOptions) ([]byte, []ObjectResult, []Skip, string, error) {
	lim := o.Limits.withDefaults()
	if o.Helm == nil {
		o.Helm = DefaultHelmPaths()
	}
	r := newRewriter(src, o.Image, o.Helm)
	var filter func([]byte) bool
	if o.Prefilter {
		filter = func(b []byte) bool { return mayName(b, o.Image) }
	}
	segs, err := parseSegments(src, r.x, lim, filter)
	if err != nil {
		return src, nil, nil, "yaml", err
	}
	for _, s := range segs {
		for _, d := range s.docs {
			r.document(d, o.Kustomization)
		}
	}
	if len(r.splices) == 0 {
		return src, nil, r.skipped, r.format(), nil
	}
	updated := r.apply()
	if err := verifySegments(src, segs, updated, lim, r.want); err != nil {
		return src, nil, r.skipped, r.format(), exitcode.AsInvalid(fmt.Errorf("rewrite refused, file left untouched: %w", err))
	}
	return updated, r.objects, r.skipped, r.format(), nil
}
