package manifests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/imagecascade/cascade/internal/dockerfile"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// maxWrites bounds the folders being written at once. Creating, syncing
// and renaming files contend in the kernel: measured on B1's machine,
// 1,000 atomic replaces take less CPU and less time 4 at a time than 16
// at a time.
const maxWrites = 4

// processors is how many folders are read, parsed and verified at once:
// that work is CPU (the reads hit the page cache), so a few per CPU.
func processors() int { return 2 * runtime.GOMAXPROCS(0) }

// errPanicked stops the others when processing or writing a folder panicked
// (the panic itself is raised again in Update's caller).
var errPanicked = errors.New("a folder's processing or write panicked")

// Update pins opts.Image's digest in the selected files of the workspace.
//
// It works in two phases. First every path is checked (discover refuses
// one leaving the workspace, exitcode.AsRefused) and every file is read,
// rewritten and verified, a few folders at a time; nothing is written
// yet. Then — unless opts.DryRun, or the first phase failed — the changed
// files are replaced, each atomically, a few folders at a time. So no file
// is written before every file has been verified, and, measured on B1's
// tree, the run is faster than one writing each folder as soon as it is
// verified: fsyncs running beside the parsers slow both down.
//
// A file that cannot be processed is reported in its FileResult. In the
// default file set (no Paths) it is skipped with its reason — a file that
// does not parse, has duplicate keys, is not UTF-8 or is over a parse
// limit is not a manifest to update — and the others are written; only a
// rewrite failing its verification is an error there. A selected file
// that cannot be processed is an error. Whenever some file is an error, no
// file at all is written (Result.NotWritten says so): the run is refused
// before its first write, never after some files were rewritten.
// Result.Err collects those errors. The returned error is for the whole run: invalid
// options (exitcode.AsInvalid), a refused path, a failed write (no further
// write starts; the files written before it stay written, each one whole,
// and the result lists every file processed).
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
	// each path component) to read its files, and again to replace its
	// changed files and sync it once.
	results := make([]FileResult, len(files))
	folders := byFolder(files)
	var panicked atomic.Pointer[any]
	recovered := func(err *error) {
		if v := recover(); v != nil {
			panicked.CompareAndSwap(nil, &v)
			*err = errPanicked
		}
	}
	changed := make([][]int, len(folders))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(processors())
	for k, fd := range folders {
		g.Go(func() (err error) {
			defer recovered(&err)
			changed[k], err = processFolder(gctx, root, fd, files, results, opts, helm, lim)
			return err
		})
	}
	err = g.Wait()
	refused := false
	for _, fr := range results {
		refused = refused || fr.err != nil
	}
	if err == nil && !opts.DryRun && !refused {
		w, wctx := errgroup.WithContext(ctx)
		w.SetLimit(maxWrites)
		var mu sync.Mutex
		var old []replaced
		keep := func(r replaced) {
			mu.Lock()
			defer mu.Unlock()
			old = append(old, r)
		}
		for k, fd := range folders {
			if len(changed[k]) == 0 {
				continue
			}
			w.Go(func() (err error) {
				defer recovered(&err)
				return writeFolder(wctx, root, fd.dir, changed[k], files, results, opts.Write, keep)
			})
		}
		err = w.Wait()
		// Appends that writers made to the replaced files just after
		// each one's rename are carried over, once, for all of them.
		if serr := sweepReplaced(root, old); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	if v := panicked.Load(); v != nil {
		panic(*v)
	}
	res := &Result{}
	if refused && !opts.DryRun {
		res.NotWritten = "a file could not be processed (see its error); no file was written"
	}
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

// openFolder is one folder, opened as a root of its own where it can be.
type openFolder struct {
	root *os.Root
	own  bool // root is the folder's own, to close
}

// openDir opens folder dir of the workspace. A folder that cannot be
// opened as a root (such as a symbolic link to a folder elsewhere in the
// workspace) is used through the workspace root, component by component,
// like any path.
func openDir(root *os.Root, dir string) openFolder {
	if dir != "." {
		if sub, err := root.OpenRoot(dir); err == nil {
			return openFolder{root: sub, own: true}
		}
	}
	return openFolder{root: root}
}

func (d openFolder) close() {
	if d.own {
		_ = d.root.Close()
	}
}

// name is the name of workspace path p in the folder.
func (d openFolder) name(p string) string {
	if !d.own {
		return p
	}
	return path.Base(p)
}

// processFolder reads, rewrites and verifies the files of one folder into
// results. It returns the indexes of its changed files.
func processFolder(ctx context.Context, root *os.Root, fd folder, files []candidate, results []FileResult, opts Options, helm []HelmPaths, lim Limits) ([]int, error) {
	dir := openDir(root, fd.dir)
	defer dir.close()
	var changed []int
	for _, i := range fd.files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := files[i]
		results[i] = processFile(dir.root, dir.name(c.path), c, opts, helm, lim)
		if results[i].Changed() {
			changed = append(changed, i)
		}
	}
	return changed, nil
}

// writeFolder replaces the changed files of folder dir, each atomically,
// then syncs the folder once so that the renames are durable.
func writeFolder(ctx context.Context, root *os.Root, fdir string, changed []int, files []candidate, results []FileResult, write func(*os.File, []byte) error, keep func(replaced)) error {
	dir := openDir(root, fdir)
	defer dir.close()
	wrote := false
	defer func() {
		if wrote {
			syncDir(dir.root, path.Dir(dir.name(files[changed[0]].path)))
		}
	}()
	for _, i := range changed {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := files[i].path
		watch := func(old *os.File, off int64) { keep(replaced{path: p, old: old, off: off}) }
		if err := writeAtomicKeep(dir.root, dir.name(p), p, results[i].original, results[i].updated, write, watch); err != nil {
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
		// In the default file set (a search, not a selection) a file that
		// cannot be read as a manifest — YAML that does not parse, such as
		// a Helm template; duplicate keys; another encoding than UTF-8; a
		// file over a parse limit, hostile or merely large — is not one:
		// it is skipped and reported with its reason, and the run goes on
		// with its outcome unchanged. Only a file cascade would change and
		// whose rewrite fails verification is an error there, and a path
		// leaving the workspace is always refused. Explicitly selected
		// files are errors, and then nothing is written (see Update).
		//
		// A selected JSON file is read as a Kubernetes object (kubectl
		// accepts JSON; JSON is YAML in flow style), but a glob selects
		// JSON of every kind: one that does not parse is skipped too.
		lenient := len(opts.Paths) == 0 || isJSON(c.path) && !errors.Is(err, errLimit)
		if lenient && !unverified(err) && exitcode.Of(err) != exitcode.Refused {
			fr.Skipped = append(fr.Skipped, Skip{Reason: "not parsed: " + err.Error()})
		} else {
			fr.err = fmt.Errorf("%s: %w", c.path, err)
			fr.Error = err.Error()
		}
		fr.Objects = nil
	}
	return fr
}

// errUnverified marks a rewrite refused by verification: the file names
// the updated image, and the bytes cascade would write do not parse to
// exactly the intended change.
var errUnverified = errors.New("rewrite refused, file left untouched")

// unverified reports whether err is a rewrite refused by verification, of
// a YAML file or of a Dockerfile.
func unverified(err error) bool {
	return errors.Is(err, errUnverified) || errors.Is(err, dockerfile.ErrUnverified)
}

func formatOf(p string) string {
	switch {
	case isDockerfile(p):
		return "dockerfile"
	case isYAML(p):
		return "yaml"
	case isJSON(p):
		return "json"
	}
	return ""
}

// readFile reads name in dir (p in the workspace), a regular file,
// refusing it past limit bytes without reading it all.
func readFile(dir *os.Root, name, p string, limit int64) ([]byte, error) {
	f, err := dir.Open(name)
	if err != nil {
		if isEscape(err) {
			return nil, exitcode.AsRefused(fmt.Errorf("reading %q: leaves the workspace", p))
		}
		return nil, fmt.Errorf("reading: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil {
		if fi.Size() > limit {
			return nil, exitcode.AsInvalid(fmt.Errorf("%w: %d bytes, over the limit of %d", errLimit, fi.Size(), limit))
		}
		size = fi.Size()
	}
	// io.ReadAll, with the buffer sized from the start: one more byte than
	// the file's size, so that a read returning exactly its size, short
	// of the count asked, is its end — no further read to see EOF.
	lr, data := io.LimitReader(f, limit+1), make([]byte, 0, max(size+1, 512))
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if errors.Is(err, io.EOF) || err == nil && int64(len(data)) == size && len(data) < cap(data) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading: %w", err)
		}
	}
	if int64(len(data)) > limit {
		return nil, exitcode.AsInvalid(fmt.Errorf("%w: over the limit of %d bytes", errLimit, limit))
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
	if fr.Format != "json" || format != "yaml" {
		fr.Format = format
	}
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
		return src, nil, r.skipped, r.format(), exitcode.AsInvalid(fmt.Errorf("%w: %w", errUnverified, err))
	}
	return updated, r.objects, r.skipped, r.format(), nil
}
