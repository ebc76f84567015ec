package githubtest

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (st *repoState) headSHA(p *pull) string {
	if id, ok := st.refs["refs/heads/"+p.head]; ok {
		return id
	}
	return p.headSHA
}

func (s *Server) pullJSON(st *repoState, p *pull) map[string]any {
	head := st.headSHA(p)
	base := st.refs["refs/heads/"+p.base]
	repo := map[string]any{"name": st.name, "full_name": st.owner + "/" + st.name, "owner": map[string]any{"login": st.owner}}
	return map[string]any{
		"id":         int64(p.number) + st.id*100000,
		"node_id":    "PR_" + strconv.Itoa(p.number),
		"number":     p.number,
		"state":      p.state,
		"title":      p.title,
		"body":       p.body,
		"draft":      p.draft,
		"merged":     false,
		"url":        s.repoAPI(st, "/pulls/"+strconv.Itoa(p.number)),
		"html_url":   s.htmlURL(st, "/pull/"+strconv.Itoa(p.number)),
		"created_at": p.createdAt.Format(time.RFC3339),
		"updated_at": p.updatedAt.Format(time.RFC3339),
		"user":       map[string]any{"login": apiUser.Name, "type": "Bot"},
		"head":       map[string]any{"ref": p.head, "sha": head, "label": st.owner + ":" + p.head, "repo": repo},
		"base":       map[string]any{"ref": p.base, "sha": base, "label": st.owner + ":" + p.base, "repo": repo},
	}
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request, st *repoState) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	headOwner, headBranch, hasHead := "", "", q.Get("head") != ""
	if hasHead {
		var ok bool
		headOwner, headBranch, ok = strings.Cut(q.Get("head"), ":")
		if !ok {
			headOwner, headBranch = st.owner, headOwner
		}
	}
	matches := []*pull{}
	for _, p := range st.pulls {
		if state != "all" && p.state != state {
			continue
		}
		if hasHead && (!strings.EqualFold(headOwner, st.owner) || p.head != headBranch) {
			continue
		}
		if b := q.Get("base"); b != "" && p.base != b {
			continue
		}
		matches = append(matches, p)
	}
	sort.SliceStable(matches, func(i, j int) bool { return matches[i].number > matches[j].number })
	out := []map[string]any{}
	for _, p := range matches {
		out = append(out, s.pullJSON(st, p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request, st *repoState) {
	var req struct {
		Title *string `json:"title"`
		Head  *string `json:"head"`
		Base  *string `json:"base"`
		Body  string  `json:"body"`
		Draft bool    `json:"draft"`
	}
	if !decode(w, r, &req) {
		return
	}
	var errs []fieldError
	if req.Title == nil || *req.Title == "" {
		errs = append(errs, fieldError{Resource: "PullRequest", Field: "title", Code: "missing_field"})
	}
	if req.Head == nil || *req.Head == "" {
		errs = append(errs, fieldError{Resource: "PullRequest", Field: "head", Code: "missing_field"})
	}
	if req.Base == nil || *req.Base == "" {
		errs = append(errs, fieldError{Resource: "PullRequest", Field: "base", Code: "missing_field"})
	}
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	head := *req.Head
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, st.owner) {
			writeValidation(w, fieldError{Resource: "PullRequest", Field: "head", Code: "invalid"})
			return
		}
		head = branch
	}
	headID, okHead := st.refs["refs/heads/"+head]
	baseID, okBase := st.refs["refs/heads/"+*req.Base]
	if !okHead {
		errs = append(errs, fieldError{Resource: "PullRequest", Field: "head", Code: "invalid"})
	}
	if !okBase {
		errs = append(errs, fieldError{Resource: "PullRequest", Field: "base", Code: "invalid"})
	}
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	for _, p := range st.pulls {
		if p.state == "open" && p.head == head && p.base == *req.Base {
			writeValidation(w, fieldError{Resource: "PullRequest", Code: "custom",
				Message: fmt.Sprintf("A pull request already exists for %s:%s.", st.owner, head)})
			return
		}
	}
	if len(st.objects.history(headID, st.objects.ancestors(baseID))) == 0 {
		writeValidation(w, fieldError{Resource: "PullRequest", Code: "custom",
			Message: fmt.Sprintf("No commits between %s and %s", *req.Base, head)})
		return
	}
	now := time.Now().UTC()
	p := &pull{
		number: len(st.pulls) + 1, title: *req.Title, body: req.Body, head: head, base: *req.Base,
		state: "open", draft: req.Draft, headSHA: headID, createdAt: now, updatedAt: now,
	}
	st.pulls = append(st.pulls, p)
	writeJSON(w, http.StatusCreated, s.pullJSON(st, p))
}

func (st *repoState) pull(r *http.Request) *pull {
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil {
		return nil
	}
	for _, p := range st.pulls {
		if p.number == n {
			return p
		}
	}
	return nil
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request, st *repoState) {
	p := st.pull(r)
	if p == nil {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.pullJSON(st, p))
}

func (s *Server) editPull(w http.ResponseWriter, r *http.Request, st *repoState) {
	p := st.pull(r)
	if p == nil {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	var req struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
		Base  *string `json:"base"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.State != nil && *req.State != "open" && *req.State != "closed" {
		writeValidation(w, fieldError{Resource: "PullRequest", Field: "state", Code: "invalid"})
		return
	}
	if req.Base != nil {
		if _, ok := st.refs["refs/heads/"+*req.Base]; !ok {
			writeValidation(w, fieldError{Resource: "PullRequest", Field: "base", Code: "invalid"})
			return
		}
		p.base = *req.Base
	}
	if req.Title != nil {
		if *req.Title == "" {
			writeValidation(w, fieldError{Resource: "PullRequest", Field: "title", Code: "missing_field"})
			return
		}
		p.title = *req.Title
	}
	if req.Body != nil {
		p.body = *req.Body
	}
	if req.State != nil {
		p.state = *req.State
	}
	p.updatedAt = time.Now().UTC()
	writeJSON(w, http.StatusOK, s.pullJSON(st, p))
}

func (s *Server) pullCommits(w http.ResponseWriter, r *http.Request, st *repoState) {
	p := st.pull(r)
	if p == nil {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	base := st.refs["refs/heads/"+p.base]
	out := []map[string]any{}
	for _, id := range st.objects.history(st.headSHA(p), st.objects.ancestors(base)) {
		out = append(out, s.repoCommitJSON(st, id))
	}
	writeJSON(w, http.StatusOK, out)
}
