package b1

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"
)

// Floor is the table's "floor" contender: the work that cascade's choices
// and promises require of any update of the tree, and nothing else. It
// parses with go.yaml.in/yaml/v3 (the locator docs/architecture.md chose) every document
// that names the repository's last path component as a whole word — the
// documents cascade must parse to find the references and report the ones
// it leaves alone — then parses again each document that changes
// (docs/reliability.md, promise 5), and replaces each changed file atomically:
// a temporary file in the same folder, written, fsynced and renamed, then
// the folder fsynced once (promise 8). It is told the answer: the new
// content is read from the expected tree, so it computes no edit, checks
// no limit, compares no trees and reports nothing. Its parse and write
// fan-out is cascade's (2 folders per CPU, 4 writers), and like cascade
// it writes only after everything is parsed.
//
// What cascade takes beyond the floor is its own cost; what the floor
// takes beyond sed is the price of parsing and of the promises. With
// write false it stops after the parsing (to split the figure).
func Floor(ctx context.Context, tree, expected string, write bool) error {
	folders, err := yamlFolders(tree)
	if err != nil {
		return err
	}
	name := []byte(Repository[strings.LastIndexByte(Repository, '/')+1:])
	writes := make([][]floorWrite, len(folders))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * runtime.GOMAXPROCS(0))
	for k, fd := range folders {
		g.Go(func() error {
			for _, rel := range fd {
				if err := gctx.Err(); err != nil {
					return err
				}
				w, err := floorFile(tree, expected, rel, name)
				if err != nil {
					return fmt.Errorf("%s: %w", rel, err)
				}
				if w.data != nil {
					writes[k] = append(writes[k], w)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil || !write {
		return err
	}
	w, wctx := errgroup.WithContext(ctx)
	w.SetLimit(4)
	for _, ws := range writes {
		if len(ws) == 0 {
			continue
		}
		w.Go(func() error {
			for _, fw := range ws {
				if err := wctx.Err(); err != nil {
					return err
				}
				if err := replace(filepath.Join(tree, fw.rel), fw.data); err != nil {
					return err
				}
			}
			return syncFolder(filepath.Join(tree, path.Dir(ws[0].rel)))
		})
	}
	return w.Wait()
}

// floorWrite is one file's new content.
type floorWrite struct {
	rel  string
	data []byte
}

// yamlFolders lists the YAML files of tree (slash-separated, relative),
// grouped by folder, in walk order.
func yamlFolders(tree string) ([][]string, error) {
	var folders [][]string
	last := ""
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		rel, err := filepath.Rel(tree, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if dir := path.Dir(rel); len(folders) == 0 || dir != last {
			folders, last = append(folders, nil), dir
		}
		folders[len(folders)-1] = append(folders[len(folders)-1], rel)
		return nil
	})
	return folders, err
}

// floorFile parses the documents of rel that name name, and, when the
// expected tree has other content for it, the documents that change.
func floorFile(tree, expected, rel string, name []byte) (floorWrite, error) {
	src, err := os.ReadFile(filepath.Join(tree, rel))
	if err != nil {
		return floorWrite{}, err
	}
	if !hasWord(src, name) {
		return floorWrite{}, nil
	}
	was := documents(src)
	for _, doc := range was {
		if hasWord(doc, name) {
			if err := parseAll(doc); err != nil {
				return floorWrite{}, err
			}
		}
	}
	want, err := os.ReadFile(filepath.Join(expected, rel))
	if err != nil || bytes.Equal(want, src) {
		return floorWrite{}, err
	}
	now := documents(want)
	for i, doc := range now {
		if i >= len(was) || !bytes.Equal(doc, was[i]) {
			if err := parseAll(doc); err != nil {
				return floorWrite{}, err
			}
		}
	}
	return floorWrite{rel: rel, data: want}, nil
}

// hasWord reports whether src holds name not preceded or followed by a
// character that can continue a repository path component.
func hasWord(src, name []byte) bool {
	word := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	for i := 0; ; {
		j := bytes.Index(src[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		if (start == 0 || !word(src[start-1])) && (end == len(src) || !word(src[end])) {
			return true
		}
		i = start + 1
	}
}

// documents splits src before each line that starts a document ("---"
// followed by a blank or the end of the line).
func documents(src []byte) [][]byte {
	var docs [][]byte
	start := 0
	for off := 0; off < len(src); {
		if b := src[off:]; off > 0 && len(b) >= 3 && b[0] == '-' && b[1] == '-' && b[2] == '-' &&
			(len(b) == 3 || b[3] == ' ' || b[3] == '\t' || b[3] == '\r' || b[3] == '\n') {
			docs, start = append(docs, src[start:off]), off
		}
		nl := bytes.IndexByte(src[off:], '\n')
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	return append(docs, src[start:])
}

// parseAll parses every document of src into nodes.
func parseAll(src []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// replace writes data to a temporary file beside p, fsyncs it and renames
// it over p.
func replace(p string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".floor.tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func syncFolder(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
