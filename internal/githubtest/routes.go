package githubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

type callerKey struct{}

// caller is the authenticated client of one request.
type caller struct {
	token string
	scope []string // repositories the token sees; empty = all
	body  []byte
}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// repoHandler is a handler for /repos/{owner}/{repo}/...; it runs with
// Server.mu held and the repository resolved.
type repoHandler func(w http.ResponseWriter, r *http.Request, st *repoState)

func (s *Server) routes() {
	h := func(pattern string, fn repoHandler) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			st, ok := s.visibleRepo(r)
			if !ok {
				writeMessage(w, http.StatusNotFound, "Not Found")
				return
			}
			fn(w, r, st)
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeMessage(w, http.StatusNotFound, "Not Found")
	})
	h("GET /repos/{owner}/{repo}", s.getRepo)
	s.listingRoutes()
	h("POST /repos/{owner}/{repo}/dispatches", s.repositoryDispatch)
	h("POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches", s.workflowDispatch)

	h("GET /repos/{owner}/{repo}/git/ref/{ref...}", s.getRef)
	h("GET /repos/{owner}/{repo}/git/refs/{ref...}", s.getRefs)
	h("GET /repos/{owner}/{repo}/git/matching-refs/{ref...}", s.matchingRefs)
	h("POST /repos/{owner}/{repo}/git/refs", s.createRef)
	h("PATCH /repos/{owner}/{repo}/git/refs/{ref...}", s.updateRef)
	h("DELETE /repos/{owner}/{repo}/git/refs/{ref...}", s.deleteRef)
	h("GET /repos/{owner}/{repo}/git/commits/{sha}", s.getCommit)
	h("POST /repos/{owner}/{repo}/git/commits", s.createCommit)
	h("GET /repos/{owner}/{repo}/git/trees/{sha}", s.getTree)
	h("POST /repos/{owner}/{repo}/git/trees", s.createTree)
	h("GET /repos/{owner}/{repo}/git/blobs/{sha}", s.getBlob)
	h("POST /repos/{owner}/{repo}/git/blobs", s.createBlob)
	h("GET /repos/{owner}/{repo}/contents/{path...}", s.getContents)
	h("GET /repos/{owner}/{repo}/compare/{basehead...}", s.compare)

	h("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	h("POST /repos/{owner}/{repo}/pulls", s.createPull)
	h("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	h("PATCH /repos/{owner}/{repo}/pulls/{number}", s.editPull)
	h("GET /repos/{owner}/{repo}/pulls/{number}/commits", s.pullCommits)
}

// visibleRepo resolves {owner}/{repo}; it reports false when the repository
// does not exist or the token cannot see it (GitHub answers 404 to both).
func (s *Server) visibleRepo(r *http.Request) (*repoState, bool) {
	key := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
	st, ok := s.repos[key]
	if !ok {
		return nil, false
	}
	scope := callerOf(r).scope
	if len(scope) == 0 {
		return st, true
	}
	for _, allowed := range scope {
		if allowed == key {
			return st, true
		}
	}
	return nil, false
}

// decode parses the request body into v strictly enough to answer like
// GitHub: malformed JSON is 400 "Problems parsing JSON".
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := callerOf(r).body
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeMessage(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// apiURL is the API URL of a path under the server.
func (s *Server) apiURL(format string) string {
	return strings.TrimSuffix(s.URL, "/") + format
}

func (s *Server) htmlURL(st *repoState, rest string) string {
	return strings.TrimSuffix(s.URL, "/") + "/" + st.owner + "/" + st.name + rest
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, st *repoState) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id":             st.id,
		"name":           st.name,
		"full_name":      st.owner + "/" + st.name,
		"owner":          map[string]any{"login": st.owner, "type": "Organization"},
		"private":        true,
		"default_branch": st.defaultBranch,
		"url":            s.apiURL("/repos/" + st.owner + "/" + st.name),
		"html_url":       s.htmlURL(st, ""),
	})
}
