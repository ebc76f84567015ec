package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// defaultPatterns is the file set when no paths are given.
var defaultPatterns = []string{"**/*.yaml", "**/*.yml", "**/Dockerfile", "**/Containerfile", "**/*.Dockerfile", "**/*.Containerfile", "**/Kustomization"}

// skippedDirs are never walked into by the default file set.
var skippedDirs = map[string]bool{".git": true, "vendor": true, "node_modules": true}

// candidate is one file selected for processing.
type candidate struct {
	path string // slash-separated, relative to the workspace
	// skip is set for files that are selected but not processed.
	skip string
	// link is set for a symbolic link inside the workspace: its target's
	// workspace path, and whether that is a folder.
	link   string
	linkTo linkKind
}

type linkKind int

const (
	noLink linkKind = iota
	fileLink
	folderLink
)

// checkPattern refuses globs that could leave the workspace.
func checkPattern(field, p string) error {
	switch {
	case p == "":
		return exitcode.AsInvalid(fmt.Errorf("%s: empty pattern", field))
	case strings.HasPrefix(p, "/") || len(p) > 1 && p[1] == ':' && p[0] != '.':
		return exitcode.AsRefused(fmt.Errorf("%s %q: absolute paths are not allowed; give paths relative to the workspace", field, p))
	case !doublestar.ValidatePattern(p):
		return exitcode.AsInvalid(fmt.Errorf("%s %q: not a valid glob", field, p))
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return exitcode.AsRefused(fmt.Errorf("%s %q: \"..\" would leave the workspace", field, p))
		}
	}
	return nil
}

// isEscape reports whether err is os.Root refusing a path that leaves it.
func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "escapes from parent")
}

// discover lists the files to process, sorted. A selected path that leads
// outside the workspace (through "..", an absolute path or a symbolic link,
// at the end or in the middle) is refused with exitcode.AsRefused.
func discover(root *os.Root, paths, exclude []string) ([]candidate, error) {
	for i, p := range paths {
		if err := checkPattern(fmt.Sprintf("paths[%d]", i), p); err != nil {
			return nil, err
		}
	}
	for i, p := range exclude {
		if err := checkPattern(fmt.Sprintf("exclude[%d]", i), p); err != nil {
			return nil, err
		}
	}
	patterns, defaults := trimDot(paths), len(paths) == 0
	exclude = trimDot(exclude)
	if defaults {
		patterns = defaultPatterns
	}
	found := map[string]candidate{}
	// Literal paths are resolved directly, so that a symlinked folder in
	// their middle is checked even where the walk would not go.
	for _, p := range patterns {
		if strings.ContainsAny(p, "*?[{\\") {
			continue
		}
		c, ok, err := inspect(root, path.Clean(p))
		if err != nil {
			return nil, err
		}
		if ok && !excluded(exclude, c.path) {
			found[c.path] = c
		}
	}
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if isEscape(err) {
				return exitcode.AsRefused(fmt.Errorf("reading %q: leaves the workspace", p))
			}
			return fmt.Errorf("reading %q: %w", p, err)
		}
		if p == "." {
			return nil
		}
		if d.IsDir() {
			if d.Name() == ".git" || defaults && skippedDirs[d.Name()] || excluded(exclude, p) {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if !inScope(patterns, p) {
				return nil
			}
		} else if !matches(patterns, p) {
			return nil
		}
		if excluded(exclude, p) {
			return nil
		}
		if d.Type().IsRegular() {
			// The walk reached it through real folders (it never follows
			// a symbolic link to a folder): a regular file in the
			// workspace, as inspect would find it.
			found[p] = candidate{path: p}
			return nil
		}
		if defaults && skippedDirs[d.Name()] {
			return nil
		}
		c, ok, err := inspect(root, p)
		if err != nil {
			return err
		}
		if ok && (c.linkTo == folderLink || matches(patterns, p)) {
			found[c.path] = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A symbolic link is never followed nor written through; say whether
	// what it points to is processed under its own path.
	for p, c := range found {
		switch c.linkTo {
		case fileLink:
			if t, ok := found[c.link]; ok && t.skip == "" {
				c.skip = fmt.Sprintf("symbolic link to %s; never written through (its target is processed under its own path)", c.link)
			} else {
				c.skip = fmt.Sprintf("symbolic link to %s; never written through, and its target is not among the selected files, so it is not processed", c.link)
			}
		case folderLink:
			if walked(c.link, defaults, patterns, exclude) {
				c.skip = fmt.Sprintf("symbolic link to folder %s; not followed (the files there are processed under their own paths)", c.link)
			} else {
				c.skip = fmt.Sprintf("symbolic link to folder %s; not followed, and that folder is not among the selected ones (excluded or skipped), so its files are not processed", c.link)
			}
		default:
			continue
		}
		found[p] = c
	}
	out := make([]candidate, 0, len(found))
	for _, c := range found {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// inspect checks one path: inside the workspace, a regular file. Symbolic
// links inside the workspace are reported as skipped (their target is
// processed under its own path; a link is never written through).
func inspect(root *os.Root, p string) (candidate, bool, error) {
	c := candidate{path: p}
	fi, err := root.Lstat(p)
	switch {
	case isEscape(err):
		return c, false, exitcode.AsRefused(fmt.Errorf("path %q leaves the workspace through a symbolic link", p))
	case errors.Is(err, fs.ErrNotExist):
		return c, false, nil
	case err != nil:
		return c, false, fmt.Errorf("reading %q: %w", p, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		st, err := root.Stat(p)
		switch {
		case isEscape(err):
			return c, false, exitcode.AsRefused(fmt.Errorf("path %q is a symbolic link leaving the workspace", p))
		case err != nil:
			c.skip = "symbolic link whose target cannot be read; not followed"
			return c, true, nil
		}
		target, ok := linkTarget(root, p)
		switch {
		case !ok:
			c.skip = "symbolic link whose target cannot be resolved; not followed"
		case st.IsDir():
			c.link, c.linkTo = target, folderLink
		case st.Mode().IsRegular():
			c.link, c.linkTo = target, fileLink
		default:
			return c, false, nil
		}
		return c, true, nil
	}
	if !fi.Mode().IsRegular() {
		return c, false, nil
	}
	return c, true, nil
}

// linkTarget is the workspace path that symbolic link p finally points to,
// following a chain of links (each resolved in its own folder, none
// leaving the workspace: os.Root has checked that).
func linkTarget(root *os.Root, p string) (string, bool) {
	for range 40 {
		fi, err := root.Lstat(p)
		if err != nil {
			return "", false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, true
		}
		t, err := root.Readlink(p)
		if err != nil || filepath.IsAbs(t) || strings.HasPrefix(t, "/") {
			return "", false
		}
		p = path.Join(path.Dir(p), filepath.ToSlash(t))
		if p == ".." || strings.HasPrefix(p, "../") {
			return "", false
		}
	}
	return "", false
}

// walked reports whether the walk of the file set goes through folder dir
// (a workspace path): not skipped, not excluded, and in the patterns' scope.
func walked(dir string, defaults bool, patterns, exclude []string) bool {
	if dir == "." {
		return true
	}
	parts := strings.Split(dir, "/")
	for i, part := range parts {
		sub := strings.Join(parts[:i+1], "/")
		if part == ".git" || defaults && skippedDirs[part] || excluded(exclude, sub) {
			return false
		}
	}
	return inScope(patterns, dir)
}

func matches(patterns []string, p string) bool {
	for _, pat := range patterns {
		if ok, _ := doublestar.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// inScope reports whether p, or something under p, could match a pattern.
func inScope(patterns []string, p string) bool {
	if matches(patterns, p) {
		return true
	}
	for _, pat := range patterns {
		base, _ := doublestar.SplitPattern(pat)
		if base == "." || base == p || strings.HasPrefix(base, p+"/") || strings.HasPrefix(p, base+"/") {
			return true
		}
	}
	return false
}

func excluded(exclude []string, p string) bool {
	return matches(exclude, p)
}

// isDockerfile reports whether the file name is a Dockerfile or Containerfile.
func isDockerfile(p string) bool {
	b := path.Base(p)
	return b == "Dockerfile" || b == "Containerfile" || strings.HasSuffix(b, ".Dockerfile") || strings.HasSuffix(b, ".Containerfile")
}

// isYAML reports whether the file name is a YAML file.
func isYAML(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || path.Base(p) == "Kustomization"
}

// isJSON reports whether the file name is a JSON file. JSON files are
// never in the default file set; selected, they are read as YAML (a
// Kubernetes object in JSON, as kubectl accepts it).
func isJSON(p string) bool {
	return strings.HasSuffix(p, ".json")
}

// trimDot drops a leading "./", which globs match literally.
func trimDot(patterns []string) []string {
	out := make([]string, len(patterns))
	for i, p := range patterns {
		for strings.HasPrefix(p, "./") {
			p = p[2:]
		}
		out[i] = p
	}
	return out
}
