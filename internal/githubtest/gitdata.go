package githubtest

import (
	"encoding/base64"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

var hexID = regexp.MustCompile(`^[0-9a-f]{40}$`)

// resolve turns a branch, tag, full ref or commit id into a commit id.
func (st *repoState) resolve(ref string) (string, bool) {
	for _, full := range []string{ref, "refs/heads/" + ref, "refs/tags/" + ref} {
		if id, ok := st.refs[full]; ok {
			return id, true
		}
	}
	if hexID.MatchString(ref) && st.objects.commits[ref] != nil {
		return ref, true
	}
	return "", false
}

func (s *Server) repoAPI(st *repoState, rest string) string {
	return s.apiURL("/repos/" + st.owner + "/" + st.name + rest)
}

func (s *Server) refJSON(st *repoState, ref string) map[string]any {
	id := st.refs[ref]
	return map[string]any{
		"ref":     ref,
		"node_id": "REF_" + id[:12],
		"url":     s.repoAPI(st, "/git/"+ref),
		"object":  map[string]any{"type": "commit", "sha": id, "url": s.repoAPI(st, "/git/commits/"+id)},
	}
}

func (s *Server) getRef(w http.ResponseWriter, r *http.Request, st *repoState) {
	ref := "refs/" + r.PathValue("ref")
	if _, ok := st.refs[ref]; !ok {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.refJSON(st, ref))
}

// getRefs is the legacy GET git/refs/{ref}: the exact ref as an object, else
// every ref under it as an array.
func (s *Server) getRefs(w http.ResponseWriter, r *http.Request, st *repoState) {
	ref := "refs/" + r.PathValue("ref")
	if _, ok := st.refs[ref]; ok {
		writeJSON(w, http.StatusOK, s.refJSON(st, ref))
		return
	}
	out := s.refsWithPrefix(st, strings.TrimSuffix(ref, "/")+"/")
	if len(out) == 0 {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) matchingRefs(w http.ResponseWriter, r *http.Request, st *repoState) {
	writeJSON(w, http.StatusOK, s.refsWithPrefix(st, "refs/"+r.PathValue("ref")))
}

func (s *Server) refsWithPrefix(st *repoState, prefix string) []map[string]any {
	out := []map[string]any{}
	for _, ref := range sortedKeys(st.refs) {
		if strings.HasPrefix(ref, prefix) {
			out = append(out, s.refJSON(st, ref))
		}
	}
	return out
}

// validRefName is a small subset of git check-ref-format.
func validRefName(ref string) bool {
	if !strings.HasPrefix(ref, "refs/") || strings.Count(ref, "/") < 2 {
		return false
	}
	if strings.Contains(ref, "..") || strings.Contains(ref, "//") || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".lock") || strings.ContainsAny(ref, " ~^:?*[\\") {
		return false
	}
	return true
}

func (s *Server) createRef(w http.ResponseWriter, r *http.Request, st *repoState) {
	var req struct {
		Ref *string `json:"ref"`
		SHA *string `json:"sha"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch {
	case req.Ref == nil:
		writeInvalid(w, `"ref" wasn't supplied.`)
		return
	case req.SHA == nil:
		writeInvalid(w, `"sha" wasn't supplied.`)
		return
	case !validRefName(*req.Ref):
		writeMessage(w, http.StatusUnprocessableEntity, "Reference name is invalid")
		return
	}
	if _, ok := st.refs[*req.Ref]; ok {
		writeMessage(w, http.StatusUnprocessableEntity, "Reference already exists")
		return
	}
	if st.objects.commits[*req.SHA] == nil {
		writeMessage(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	st.refs[*req.Ref] = *req.SHA
	writeJSON(w, http.StatusCreated, s.refJSON(st, *req.Ref))
}

func (s *Server) updateRef(w http.ResponseWriter, r *http.Request, st *repoState) {
	ref := "refs/" + r.PathValue("ref")
	var req struct {
		SHA   *string `json:"sha"`
		Force bool    `json:"force"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.SHA == nil {
		writeInvalid(w, `"sha" wasn't supplied.`)
		return
	}
	old, ok := st.refs[ref]
	if !ok {
		writeMessage(w, http.StatusUnprocessableEntity, "Reference does not exist")
		return
	}
	if st.objects.commits[*req.SHA] == nil {
		writeMessage(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	if !req.Force && !st.objects.ancestors(*req.SHA)[old] {
		writeMessage(w, http.StatusUnprocessableEntity, "Update is not a fast forward")
		return
	}
	st.refs[ref] = *req.SHA
	writeJSON(w, http.StatusOK, s.refJSON(st, ref))
}

func (s *Server) deleteRef(w http.ResponseWriter, r *http.Request, st *repoState) {
	ref := "refs/" + r.PathValue("ref")
	if _, ok := st.refs[ref]; !ok {
		writeMessage(w, http.StatusUnprocessableEntity, "Reference does not exist")
		return
	}
	delete(st.refs, ref)
	w.WriteHeader(http.StatusNoContent)
}

func sigJSON(sg signature) map[string]any {
	return map[string]any{"name": sg.Name, "email": sg.Email, "date": sg.Date.UTC().Format(time.RFC3339)}
}

// gitCommitJSON is a commit as the Git Data API shows it.
func (s *Server) gitCommitJSON(st *repoState, id string) map[string]any {
	c := st.objects.commits[id]
	parents := []map[string]any{}
	for _, p := range c.Parents {
		parents = append(parents, map[string]any{"sha": p, "url": s.repoAPI(st, "/git/commits/"+p), "html_url": s.htmlURL(st, "/commit/"+p)})
	}
	return map[string]any{
		"sha":          id,
		"node_id":      "C_" + id[:12],
		"url":          s.repoAPI(st, "/git/commits/"+id),
		"html_url":     s.htmlURL(st, "/commit/"+id),
		"author":       sigJSON(c.Author),
		"committer":    sigJSON(c.Committer),
		"message":      c.Message,
		"tree":         map[string]any{"sha": c.Tree, "url": s.repoAPI(st, "/git/trees/"+c.Tree)},
		"parents":      parents,
		"verification": map[string]any{"verified": false, "reason": "unsigned"},
	}
}

// repoCommitJSON is a commit as the pulls and compare APIs list it.
func (s *Server) repoCommitJSON(st *repoState, id string) map[string]any {
	gc := s.gitCommitJSON(st, id)
	return map[string]any{
		"sha":      id,
		"node_id":  gc["node_id"],
		"url":      s.repoAPI(st, "/commits/"+id),
		"html_url": gc["html_url"],
		"commit": map[string]any{
			"author": gc["author"], "committer": gc["committer"], "message": gc["message"],
			"tree": gc["tree"], "url": gc["url"],
		},
		"parents": gc["parents"],
	}
}

func (s *Server) getCommit(w http.ResponseWriter, r *http.Request, st *repoState) {
	id := r.PathValue("sha")
	if st.objects.commits[id] == nil {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.gitCommitJSON(st, id))
}

type sigRequest struct {
	Name  string     `json:"name"`
	Email string     `json:"email"`
	Date  *time.Time `json:"date"`
}

func (sr *sigRequest) signature(fallback signature) signature {
	if sr == nil {
		return fallback
	}
	sg := signature{Name: sr.Name, Email: sr.Email, Date: fallback.Date}
	if sr.Date != nil {
		sg.Date = *sr.Date
	}
	return sg
}

// apiUser is the identity the server gives commits created without author.
var apiUser = signature{Name: "githubtest[bot]", Email: "githubtest[bot]@users.noreply.github.com"}

func (s *Server) createCommit(w http.ResponseWriter, r *http.Request, st *repoState) {
	var req struct {
		Message   *string     `json:"message"`
		Tree      *string     `json:"tree"`
		Parents   []string    `json:"parents"`
		Author    *sigRequest `json:"author"`
		Committer *sigRequest `json:"committer"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch {
	case req.Message == nil:
		writeInvalid(w, `"message" wasn't supplied.`)
		return
	case req.Tree == nil:
		writeInvalid(w, `"tree" wasn't supplied.`)
		return
	}
	if st.objects.kind(*req.Tree) != "tree" {
		writeMessage(w, http.StatusUnprocessableEntity, "Tree SHA does not exist")
		return
	}
	for _, p := range req.Parents {
		if st.objects.commits[p] == nil {
			writeMessage(w, http.StatusUnprocessableEntity, "Parent SHA does not exist or is not a commit object")
			return
		}
	}
	now := apiUser
	now.Date = time.Now().UTC().Truncate(time.Second)
	author := req.Author.signature(now)
	committer := req.Committer.signature(author)
	if (author.Name == "") != (author.Email == "") || (committer.Name == "") != (committer.Email == "") {
		writeInvalid(w, "author and committer need both name and email.")
		return
	}
	id := st.objects.putCommit(&commitObj{
		Tree: *req.Tree, Parents: req.Parents, Author: author, Committer: committer, Message: *req.Message,
	})
	writeJSON(w, http.StatusCreated, s.gitCommitJSON(st, id))
}

func (s *Server) treeJSON(st *repoState, id string, recursive bool) map[string]any {
	var entries []flatEntry
	if recursive {
		entries = st.objects.flatten(id, "")
	} else {
		for _, e := range st.objects.trees[id] {
			entries = append(entries, flatEntry{Path: e.Name, treeEntry: e})
		}
	}
	list := []map[string]any{}
	for _, e := range entries {
		m := map[string]any{"path": e.Path, "mode": e.Mode, "type": e.Type, "sha": e.SHA}
		switch e.Type {
		case "blob":
			m["size"] = len(st.objects.blobs[e.SHA])
			m["url"] = s.repoAPI(st, "/git/blobs/"+e.SHA)
		case "tree":
			m["url"] = s.repoAPI(st, "/git/trees/"+e.SHA)
		}
		list = append(list, m)
	}
	return map[string]any{"sha": id, "url": s.repoAPI(st, "/git/trees/"+id), "tree": list, "truncated": false}
}

func (s *Server) getTree(w http.ResponseWriter, r *http.Request, st *repoState) {
	id := r.PathValue("sha")
	if st.objects.kind(id) != "tree" {
		// GitHub also accepts a commit or branch here and shows its tree.
		if c, ok := st.resolve(id); ok {
			id = st.objects.commits[c].Tree
		} else {
			writeMessage(w, http.StatusNotFound, "Not Found")
			return
		}
	}
	rec := r.URL.Query().Get("recursive")
	writeJSON(w, http.StatusOK, s.treeJSON(st, id, rec != "" && rec != "0" && rec != "false"))
}

func (s *Server) createTree(w http.ResponseWriter, r *http.Request, st *repoState) {
	type entry struct {
		Path    *string `json:"path"`
		Mode    *string `json:"mode"`
		Type    *string `json:"type"`
		SHA     *string `json:"sha"`
		Content *string `json:"content"`
	}
	var req struct {
		BaseTree *string `json:"base_tree"`
		Tree     []entry `json:"tree"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Tree == nil {
		writeInvalid(w, `"tree" wasn't supplied.`)
		return
	}
	root := map[string]*node{}
	if req.BaseTree != nil && *req.BaseTree != "" {
		if st.objects.kind(*req.BaseTree) != "tree" {
			writeMessage(w, http.StatusUnprocessableEntity, "Invalid tree info: base_tree is not a tree")
			return
		}
		root = st.objects.load(*req.BaseTree)
	}
	for i, e := range req.Tree {
		if e.Path == nil || *e.Path == "" || strings.HasPrefix(*e.Path, "/") || path.Clean(*e.Path) != *e.Path || *e.Path == "." {
			writeMessage(w, http.StatusUnprocessableEntity, "Invalid tree info: tree."+strconv.Itoa(i)+".path is invalid")
			return
		}
		if e.Mode == nil || !validMode(*e.Mode) {
			writeMessage(w, http.StatusUnprocessableEntity, "Invalid tree info: tree."+strconv.Itoa(i)+".mode is invalid")
			return
		}
		typ := "blob"
		if e.Type != nil {
			typ = *e.Type
		}
		if (typ == "tree") != (*e.Mode == modeDir) || (typ == "commit") != (*e.Mode == modeSubmod) {
			writeMessage(w, http.StatusUnprocessableEntity, "Invalid tree info: tree."+strconv.Itoa(i)+".type does not match mode")
			return
		}
		var n *node
		switch {
		case e.SHA != nil && e.Content != nil:
			writeMessage(w, http.StatusUnprocessableEntity, "Invalid tree info: tree."+strconv.Itoa(i)+" has both sha and content")
			return
		case e.Content != nil:
			if typ != "blob" {
				writeMessage(w, http.StatusUnprocessableEntity, "Invalid tree info: content needs type blob")
				return
			}
			n = &node{mode: *e.Mode, typ: typ, sha: st.objects.putBlob([]byte(*e.Content))}
		case e.SHA != nil:
			if typ != "commit" && st.objects.kind(*e.SHA) != typ {
				writeMessage(w, http.StatusUnprocessableEntity, "Invalid tree info: tree."+strconv.Itoa(i)+".sha "+*e.SHA+" is not a "+typ)
				return
			}
			n = &node{mode: *e.Mode, typ: typ, sha: *e.SHA}
			if typ == "tree" {
				n.children = st.objects.load(*e.SHA)
			}
		}
		// Neither sha nor content (sha: null) deletes the path.
		if err := set(root, *e.Path, n); err != nil {
			writeMessage(w, http.StatusUnprocessableEntity, "Invalid tree info: "+err.Error())
			return
		}
	}
	id, _ := st.objects.write(root)
	writeJSON(w, http.StatusCreated, s.treeJSON(st, id, false))
}

func validMode(m string) bool {
	switch m {
	case modeFile, modeExec, modeDir, modeSymlink, modeSubmod:
		return true
	}
	return false
}

// encodeContent is base64 with a newline every 60 characters, as GitHub sends.
func encodeContent(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 60 {
		sb.WriteString(enc[:60])
		sb.WriteByte('\n')
		enc = enc[60:]
	}
	sb.WriteString(enc)
	sb.WriteByte('\n')
	return sb.String()
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, st *repoState) {
	id := r.PathValue("sha")
	data, ok := st.objects.blobs[id]
	if !ok {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "raw") {
		w.Header().Set("Content-Type", "application/vnd.github.raw")
		_, _ = w.Write(data)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sha": id, "node_id": "B_" + id[:12], "size": len(data), "url": s.repoAPI(st, "/git/blobs/"+id),
		"content": encodeContent(data), "encoding": "base64",
	})
}

func (s *Server) createBlob(w http.ResponseWriter, r *http.Request, st *repoState) {
	var req struct {
		Content  *string `json:"content"`
		Encoding string  `json:"encoding"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Content == nil {
		writeInvalid(w, `"content" wasn't supplied.`)
		return
	}
	var data []byte
	switch req.Encoding {
	case "", "utf-8":
		data = []byte(*req.Content)
	case "base64":
		d, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(*req.Content, "\n", ""))
		if err != nil {
			writeMessage(w, http.StatusUnprocessableEntity, "Invalid base64 content")
			return
		}
		data = d
	default:
		writeInvalid(w, "For 'properties/encoding', \""+req.Encoding+"\" is not one of [\"utf-8\", \"base64\"].")
		return
	}
	id := st.objects.putBlob(data)
	writeJSON(w, http.StatusCreated, map[string]any{"sha": id, "url": s.repoAPI(st, "/git/blobs/"+id)})
}

func (s *Server) getContents(w http.ResponseWriter, r *http.Request, st *repoState) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = st.defaultBranch
	}
	head, ok := st.resolve(ref)
	if !ok {
		writeMessage(w, http.StatusNotFound, "No commit found for the ref "+ref)
		return
	}
	p := strings.Trim(r.PathValue("path"), "/")
	e, ok := st.objects.lookup(st.objects.commits[head].Tree, p)
	if !ok {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	item := func(p string, e treeEntry, withContent bool) map[string]any {
		typ := map[string]string{"blob": "file", "tree": "dir", "commit": "submodule"}[e.Type]
		if e.Mode == modeSymlink {
			typ = "symlink"
		}
		m := map[string]any{
			"type": typ, "name": path.Base(p), "path": p, "sha": e.SHA,
			"size":     len(st.objects.blobs[e.SHA]),
			"url":      s.repoAPI(st, "/contents/"+p+"?ref="+ref),
			"html_url": s.htmlURL(st, "/blob/"+ref+"/"+p),
			"git_url":  s.repoAPI(st, "/git/"+e.Type+"s/"+e.SHA),
		}
		if withContent {
			m["encoding"] = "base64"
			m["content"] = encodeContent(st.objects.blobs[e.SHA])
		}
		return m
	}
	if e.Type != "tree" {
		writeJSONConditional(w, r, item(p, e, true))
		return
	}
	list := []map[string]any{}
	children := append([]treeEntry(nil), st.objects.trees[e.SHA]...)
	sort.Slice(children, func(i, j int) bool { return children[i].Name < children[j].Name })
	for _, c := range children {
		list = append(list, item(path.Join(p, c.Name), c, false))
	}
	writeJSON(w, http.StatusOK, list)
}

// compare answers GET compare/{base}...{head}: the commits reachable from
// head and not from base, oldest first.
func (s *Server) compare(w http.ResponseWriter, r *http.Request, st *repoState) {
	base, head, ok := strings.Cut(r.PathValue("basehead"), "...")
	if !ok {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	baseID, ok1 := st.resolve(base)
	headID, ok2 := st.resolve(head)
	if !ok1 || !ok2 {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	baseAnc := st.objects.ancestors(baseID)
	headAnc := st.objects.ancestors(headID)
	ahead := st.objects.history(headID, baseAnc)
	behind := st.objects.history(baseID, headAnc)
	status := "identical"
	switch {
	case len(ahead) > 0 && len(behind) > 0:
		status = "diverged"
	case len(ahead) > 0:
		status = "ahead"
	case len(behind) > 0:
		status = "behind"
	}
	commits := []map[string]any{}
	for _, id := range ahead {
		commits = append(commits, s.repoCommitJSON(st, id))
	}
	out := map[string]any{
		"url":           s.repoAPI(st, "/compare/"+base+"..."+head),
		"html_url":      s.htmlURL(st, "/compare/"+base+"..."+head),
		"status":        status,
		"ahead_by":      len(ahead),
		"behind_by":     len(behind),
		"total_commits": len(ahead),
		"commits":       commits,
		"base_commit":   s.repoCommitJSON(st, baseID),
	}
	if mb := mergeBase(st.objects, headID, baseAnc); mb != "" {
		out["merge_base_commit"] = s.repoCommitJSON(st, mb)
	}
	writeJSON(w, http.StatusOK, out)
}

// mergeBase finds a commit reachable from head that is in baseAnc, walking
// breadth first from head.
func mergeBase(st *store, head string, baseAnc map[string]bool) string {
	queue := []string{head}
	seen := map[string]bool{}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c] || st.commits[c] == nil {
			continue
		}
		seen[c] = true
		if baseAnc[c] {
			return c
		}
		queue = append(queue, st.commits[c].Parents...)
	}
	return ""
}
