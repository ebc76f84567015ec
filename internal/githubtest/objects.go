package githubtest

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Git modes as the REST API spells them.
const (
	modeFile    = "100644"
	modeExec    = "100755"
	modeDir     = "040000"
	modeSymlink = "120000"
	modeSubmod  = "160000"
)

type treeEntry struct {
	Name string
	Mode string
	Type string // blob, tree or commit
	SHA  string
}

type signature struct {
	Name  string
	Email string
	Date  time.Time
}

type commitObj struct {
	Tree      string
	Parents   []string
	Author    signature
	Committer signature
	Message   string
}

// store is a content-addressed git object store. Object ids are git's own
// (SHA-1 over "<type> <size>\x00<content>"), so they match what git computes.
// Guarded by Server.mu.
type store struct {
	blobs   map[string][]byte
	trees   map[string][]treeEntry
	commits map[string]*commitObj
}

func newStore() *store {
	return &store{blobs: map[string][]byte{}, trees: map[string][]treeEntry{}, commits: map[string]*commitObj{}}
}

func objectID(kind string, content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", kind, len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

func (st *store) putBlob(data []byte) string {
	id := objectID("blob", data)
	st.blobs[id] = bytes.Clone(data)
	return id
}

// sortEntries orders entries like git: by name, a tree's name compared as if
// it ended with "/".
func sortEntries(es []treeEntry) {
	key := func(e treeEntry) string {
		if e.Type == "tree" {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(es, func(i, j int) bool { return key(es[i]) < key(es[j]) })
}

func (st *store) putTree(entries []treeEntry) string {
	es := append([]treeEntry(nil), entries...)
	sortEntries(es)
	var buf bytes.Buffer
	for _, e := range es {
		mode := strings.TrimPrefix(e.Mode, "0")
		raw, _ := hex.DecodeString(e.SHA)
		fmt.Fprintf(&buf, "%s %s\x00", mode, e.Name)
		buf.Write(raw)
	}
	id := objectID("tree", buf.Bytes())
	st.trees[id] = es
	return id
}

func formatSig(s signature) string {
	return fmt.Sprintf("%s <%s> %d +0000", s.Name, s.Email, s.Date.Unix())
}

func (st *store) putCommit(c *commitObj) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "tree %s\n", c.Tree)
	for _, p := range c.Parents {
		fmt.Fprintf(&buf, "parent %s\n", p)
	}
	fmt.Fprintf(&buf, "author %s\ncommitter %s\n\n%s", formatSig(c.Author), formatSig(c.Committer), c.Message)
	id := objectID("commit", buf.Bytes())
	cp := *c
	cp.Parents = append([]string(nil), c.Parents...)
	st.commits[id] = &cp
	return id
}

func (st *store) kind(id string) string {
	switch {
	case st.blobs[id] != nil:
		return "blob"
	case st.trees[id] != nil:
		return "tree"
	case st.commits[id] != nil:
		return "commit"
	}
	if id == emptyTreeID {
		return "tree"
	}
	return ""
}

// emptyTreeID is git's id of the empty tree; st.trees holds it as a nil
// slice, so kind needs the special case.
var emptyTreeID = objectID("tree", nil)

// node is a mutable tree used to build new trees from a base.
type node struct {
	mode, typ, sha string
	children       map[string]*node // for loaded trees
}

func (st *store) load(treeID string) map[string]*node {
	out := map[string]*node{}
	for _, e := range st.trees[treeID] {
		n := &node{mode: e.Mode, typ: e.Type, sha: e.SHA}
		if e.Type == "tree" {
			n.children = st.load(e.SHA)
		}
		out[e.Name] = n
	}
	return out
}

// set places n at the slash-separated path p, creating directories; n == nil
// deletes. It reports an error when a path component is a file.
func set(root map[string]*node, p string, n *node) error {
	parts := strings.Split(p, "/")
	dir := root
	for _, part := range parts[:len(parts)-1] {
		child, ok := dir[part]
		if !ok {
			if n == nil {
				return nil
			}
			child = &node{mode: modeDir, typ: "tree", children: map[string]*node{}}
			dir[part] = child
		}
		if child.typ != "tree" {
			return fmt.Errorf("path %q: %q is not a directory", p, part)
		}
		if child.children == nil {
			child.children = map[string]*node{}
		}
		dir = child.children
	}
	last := parts[len(parts)-1]
	if n == nil {
		delete(dir, last)
		return nil
	}
	dir[last] = n
	return nil
}

// write stores the tree (and its subtrees), dropping empty directories.
func (st *store) write(dir map[string]*node) (string, bool) {
	var es []treeEntry
	for name, n := range dir {
		if n.typ == "tree" && n.children != nil {
			id, ok := st.write(n.children)
			if !ok {
				continue
			}
			n.sha = id
		}
		es = append(es, treeEntry{Name: name, Mode: n.mode, Type: n.typ, SHA: n.sha})
	}
	if len(es) == 0 {
		return st.putTree(nil), false
	}
	return st.putTree(es), true
}

// flatEntry is a tree entry with its full path.
type flatEntry struct {
	Path string
	treeEntry
}

// flatten lists every entry under treeID, depth first, trees included.
func (st *store) flatten(treeID, prefix string) []flatEntry {
	var out []flatEntry
	for _, e := range st.trees[treeID] {
		p := prefix + e.Name
		out = append(out, flatEntry{Path: p, treeEntry: e})
		if e.Type == "tree" {
			out = append(out, st.flatten(e.SHA, p+"/")...)
		}
	}
	return out
}

// lookup finds the entry at path p under treeID.
func (st *store) lookup(treeID, p string) (treeEntry, bool) {
	cur := treeEntry{Mode: modeDir, Type: "tree", SHA: treeID}
	if p == "" {
		return cur, true
	}
	for _, part := range strings.Split(p, "/") {
		if cur.Type != "tree" {
			return treeEntry{}, false
		}
		found := false
		for _, e := range st.trees[cur.SHA] {
			if e.Name == part {
				cur, found = e, true
				break
			}
		}
		if !found {
			return treeEntry{}, false
		}
	}
	return cur, true
}

// ancestors returns every commit reachable from id, id included.
func (st *store) ancestors(id string) map[string]bool {
	seen := map[string]bool{}
	stack := []string{id}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[c] || st.commits[c] == nil {
			continue
		}
		seen[c] = true
		stack = append(stack, st.commits[c].Parents...)
	}
	return seen
}

// history lists the commits reachable from head but not from any id in
// exclude, oldest first (by a depth-first walk of parents, reversed).
func (st *store) history(head string, exclude map[string]bool) []string {
	var order []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(c string) {
		if seen[c] || exclude[c] || st.commits[c] == nil {
			return
		}
		seen[c] = true
		for _, p := range st.commits[c].Parents {
			walk(p)
		}
		order = append(order, c)
	}
	walk(head)
	return order
}
