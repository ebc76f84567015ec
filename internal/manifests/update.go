package manifests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// maxConcurrentWrites bounds the atomic writes in flight; they mostly wait
// for the disk.
const maxConcurrentWrites = 16

// errWritePanicked stops the other writes when one panicked.
var errWritePanicked = errors.New("a write panicked")

// Update pins opts.Image's digest in the selected files of the workspace.
//
// Every file is read and validated first; only when no path was refused are
// the changed files written (unless opts.DryRun), each atomically. A file
// that cannot be processed (invalid or hostile YAML) is reported in its
// FileResult and left alone without stopping the others; Result.Err
// collects those errors. The returned error is for the whole run: invalid
// options (exitcode.AsInvalid), a path leaving the workspace
// (exitcode.AsRefused, before any write), a failed write (the files written
// before it stay written, each one whole).
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
	// Files are independent: read, rewrite and verify them concurrently
	// (the work is mostly waiting for the file system), keeping file order.
	results := make([]FileResult, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4 * runtime.GOMAXPROCS(0))
	for i, c := range files {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			results[i] = processFile(root, c, opts, helm, lim)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res := &Result{}
	for _, fr := range results {
		if fr.Path != "" && (fr.Changed() || len(fr.Skipped) > 0 || fr.err != nil) {
			res.Files = append(res.Files, fr)
		}
	}
	if opts.DryRun {
		return res, nil
	}
	// Writes are independent too, and each waits for its fsyncs: run them
	// concurrently. After a failure no further write starts; a panic (in
	// an injected opts.Write) reaches the caller as it would sequentially.
	w, wctx := errgroup.WithContext(ctx)
	w.SetLimit(maxConcurrentWrites)
	var panicked atomic.Pointer[any]
	for _, f := range res.Files {
		if !f.Changed() {
			continue
		}
		w.Go(func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					panicked.CompareAndSwap(nil, &v)
					err = errWritePanicked
				}
			}()
			if err := wctx.Err(); err != nil {
				return err
			}
			return writeAtomic(root, f.Path, f.updated, opts.Write)
		})
	}
	err = w.Wait()
	if v := panicked.Load(); v != nil {
		panic(*v)
	}
	if err != nil {
		return res, err
	}
	return res, nil
}

// processFile reads, rewrites and verifies one file. A zero Path means the
// file is not a format cascade edits.
func processFile(root *os.Root, c candidate, opts Options, helm []HelmPaths, lim Limits) FileResult {
	fr := FileResult{Path: c.path, Format: formatOf(c.path)}
	if c.skip != "" {
		fr.Skipped = append(fr.Skipped, Skip{Reason: c.skip})
		return fr
	}
	if fr.Format == "" {
		return FileResult{} // selected by a glob, but not a format cascade edits
	}
	data, err := readFile(root, c.path, lim.MaxFileBytes)
	if err == nil && fr.Format == "yaml" && len(opts.Paths) == 0 && canSkipParse(data, opts.Image, lim) {
		return FileResult{} // cannot name the image: nothing to do, nothing to report
	}
	if err == nil {
		err = rewriteFile(&fr, data, opts.Image, helm, lim)
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

// readFile reads a regular file, refusing it past max bytes without reading
// it all.
func readFile(root *os.Root, p string, max int64) ([]byte, error) {
	f, err := root.Open(p)
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
func rewriteFile(fr *FileResult, data []byte, image imageref.Ref, helm []HelmPaths, lim Limits) error {
	fr.original = data
	if fr.Format == "dockerfile" {
		return rewriteDockerfile(fr, data, image)
	}
	updated, objects, skipped, format, err := RewriteYAML(data, RewriteOptions{
		Image: image, Helm: helm, Limits: lim, Kustomization: isKustomizationFile(fr.Path),
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
	docs, err := parseYAML(src, lim)
	if err != nil {
		return src, nil, nil, "yaml", err
	}
	r := newRewriter(src, o.Image, o.Helm)
	for _, d := range docs {
		r.document(d, o.Kustomization)
	}
	if len(r.splices) == 0 {
		return src, nil, r.skipped, r.format(), nil
	}
	updated := r.apply()
	if err := verify(docs, updated, lim, r.want); err != nil {
		return src, nil, r.skipped, r.format(), exitcode.AsInvalid(fmt.Errorf("rewrite refused, file left untouched: %w", err))
	}
	return updated, r.objects, r.skipped, r.format(), nil
}
