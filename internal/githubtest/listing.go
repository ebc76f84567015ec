package githubtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// SetTopics sets the repository's topics (GitHub lowercases them).
func (r *Repo) SetTopics(topics ...string) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st := r.state()
	st.topics = nil
	for _, t := range topics {
		st.topics = append(st.topics, strings.ToLower(t))
	}
}

// SetArchived archives (or unarchives) the repository.
func (r *Repo) SetArchived(archived bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.state().archived = archived
}

// listingRoutes answers the repository listings of an organisation and of
// a user, paginated like GitHub: per_page (default 30, at most 100), page
// (from 1), and a Link header with first, prev, next and last.
func (s *Server) listingRoutes() {
	list := func(param string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.listRepos(w, r, r.PathValue(param))
		}
	}
	s.mux.HandleFunc("GET /orgs/{org}/repos", list("org"))
	s.mux.HandleFunc("GET /users/{user}/repos", list("user"))
}

func (s *Server) listRepos(w http.ResponseWriter, r *http.Request, owner string) {
	owner = strings.ToLower(owner)
	var keys []string
	exists := false
	for key := range s.repos {
		if strings.HasPrefix(key, owner+"/") {
			exists = true
			if _, ok := s.visibleRepo(withPath(r, key)); ok {
				keys = append(keys, key)
			}
		}
	}
	if !exists {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	slices.Sort(keys)
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	last := max(1, (len(keys)+perPage-1)/perPage)
	from, to := min((page-1)*perPage, len(keys)), min(page*perPage, len(keys))
	out := []map[string]any{}
	for _, key := range keys[from:to] {
		st := s.repos[key]
		topics := append([]string{}, st.topics...)
		out = append(out, map[string]any{
			"id":             st.id,
			"name":           st.name,
			"full_name":      st.owner + "/" + st.name,
			"owner":          map[string]any{"login": st.owner, "type": "Organization"},
			"private":        true,
			"fork":           false,
			"archived":       st.archived,
			"topics":         topics,
			"default_branch": st.defaultBranch,
			"url":            s.apiURL("/repos/" + st.owner + "/" + st.name),
			"html_url":       s.htmlURL(st, ""),
		})
	}
	var links []string
	link := func(rel string, n int) {
		u := *r.URL
		v := u.Query()
		v.Set("page", strconv.Itoa(n))
		v.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = v.Encode()
		links = append(links, fmt.Sprintf(`<%s>; rel="%s"`, s.apiURL(u.RequestURI()), rel))
	}
	if page < last {
		link("next", page+1)
		link("last", last)
	}
	if page > 1 {
		link("first", 1)
		link("prev", min(page-1, last))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	writeJSONConditional(w, r, out)
}

// withPath returns r with the {owner} and {repo} path values of key
// ("owner/name"), for visibleRepo.
func withPath(r *http.Request, key string) *http.Request {
	owner, name, _ := strings.Cut(key, "/")
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: "/repos/" + key}
	r2.SetPathValue("owner", owner)
	r2.SetPathValue("repo", name)
	return r2
}

// writeJSONConditional answers 200 with v and a strong ETag of the body,
// or 304 with no body when the request's If-None-Match names that ETag —
// as GitHub does for the GETs a client polls (listings, contents).
func writeJSONConditional(w http.ResponseWriter, r *http.Request, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, err.Error())
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	for _, tag := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag || tag == "*" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}
