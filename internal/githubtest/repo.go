package githubtest

import (
	"sort"
	"strings"
	"time"
)

// repoState is one repository; guarded by Server.mu.
type repoState struct {
	id            int64
	owner, name   string
	defaultBranch string
	objects       *store
	refs          map[string]string // "refs/heads/main" → commit id
	pulls         []*pull
	workflows     []Workflow
	runs          int64
	topics        []string // listing.go
	archived      bool
}

type pull struct {
	number    int
	title     string
	body      string
	head      string // branch name
	base      string
	state     string
	draft     bool
	headSHA   string // last known head; the branch wins while it exists
	createdAt time.Time
	updatedAt time.Time
}

// Workflow is a workflow file that can be dispatched.
type Workflow struct {
	// ID is the numeric workflow id; 0 picks one.
	ID int64
	// Path is the file, e.g. ".github/workflows/build.yml"; the file name
	// ("build.yml") also identifies the workflow in dispatch URLs.
	Path string
	// Inputs are the workflow_dispatch inputs the file declares. Inputs not
	// declared are rejected like GitHub does.
	Inputs []WorkflowInput
}

// WorkflowInput is one declared workflow_dispatch input.
type WorkflowInput struct {
	Name     string
	Required bool
	Default  string
}

// Repo is a test handle on one repository of the server.
type Repo struct {
	s   *Server
	key string
}

// seedAuthor writes the seed commits.
var seedAuthor = signature{Name: "githubtest", Email: "githubtest@users.noreply.github.com"}

// Repo returns the repository "owner/name", creating it when missing with a
// default branch "main" holding one empty initial commit.
func (s *Server) Repo(fullName string) *Repo {
	key := strings.ToLower(fullName)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.repos[key]; !ok {
		owner, name, _ := strings.Cut(fullName, "/")
		s.nextID++
		st := &repoState{
			id: s.nextID, owner: owner, name: name, defaultBranch: "main",
			objects: newStore(), refs: map[string]string{},
		}
		tree := st.objects.putTree(nil)
		now := time.Now().UTC()
		sig := seedAuthor
		sig.Date = now
		st.refs["refs/heads/main"] = st.objects.putCommit(&commitObj{
			Tree: tree, Author: sig, Committer: sig, Message: "Initial commit\n",
		})
		s.repos[key] = st
	}
	return &Repo{s: s, key: key}
}

func (r *Repo) state() *repoState { return r.s.repos[r.key] }

// SetDefaultBranch makes branch the default branch (creating it from the
// current default branch's head when missing).
func (r *Repo) SetDefaultBranch(branch string) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st := r.state()
	if _, ok := st.refs["refs/heads/"+branch]; !ok {
		st.refs["refs/heads/"+branch] = st.refs["refs/heads/"+st.defaultBranch]
	}
	st.defaultBranch = branch
}

// AddWorkflow declares a dispatchable workflow and returns its id.
func (r *Repo) AddWorkflow(w Workflow) int64 {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st := r.state()
	if w.ID == 0 {
		r.s.nextID++
		w.ID = r.s.nextID
	}
	st.workflows = append(st.workflows, w)
	return w.ID
}

// Commit is a commit as tests see it.
type Commit struct {
	SHA         string
	Tree        string
	Parents     []string
	Message     string
	AuthorName  string
	AuthorEmail string
}

// WriteFiles commits files (path → content; a nil-equivalent empty string
// is a file with no content) on top of branch, creating the branch from the
// default branch when missing, and returns the new commit id.
func (r *Repo) WriteFiles(branch, message string, files map[string]string) string {
	return r.commit(branch, message, seedAuthor, files, nil)
}

// DeleteFiles commits the removal of paths on branch.
func (r *Repo) DeleteFiles(branch, message string, paths ...string) string {
	return r.commit(branch, message, seedAuthor, nil, paths)
}

// AddForeignCommit commits files on branch as a person other than the
// client under test (author "Someone Else"), with a plain message, and
// returns the commit id.
func (r *Repo) AddForeignCommit(branch string, files map[string]string) string {
	return r.commit(branch, "Manual fix\n", signature{Name: "Someone Else", Email: "someone@example.com"}, files, nil)
}

func (r *Repo) commit(branch, message string, author signature, files map[string]string, deletes []string) string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st := r.state()
	ref := "refs/heads/" + branch
	parent, ok := st.refs[ref]
	if !ok {
		parent = st.refs["refs/heads/"+st.defaultBranch]
	}
	root := st.objects.load(st.objects.commits[parent].Tree)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		id := st.objects.putBlob([]byte(files[p]))
		_ = set(root, p, &node{mode: modeFile, typ: "blob", sha: id})
	}
	for _, p := range deletes {
		_ = set(root, p, nil)
	}
	tree, _ := st.objects.write(root)
	author.Date = time.Now().UTC()
	id := st.objects.putCommit(&commitObj{
		Tree: tree, Parents: []string{parent}, Author: author, Committer: author, Message: message,
	})
	st.refs[ref] = id
	return id
}

// Branch returns the commit id at the head of branch.
func (r *Repo) Branch(branch string) (string, bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	id, ok := r.state().refs["refs/heads/"+branch]
	return id, ok
}

// Files returns every file on branch (path → content), or false when the
// branch does not exist.
func (r *Repo) Files(branch string) (map[string]string, bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st := r.state()
	head, ok := st.refs["refs/heads/"+branch]
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for _, e := range st.objects.flatten(st.objects.commits[head].Tree, "") {
		if e.Type == "blob" {
			out[e.Path] = string(st.objects.blobs[e.SHA])
		}
	}
	return out, true
}

// Commit returns the commit with id sha.
func (r *Repo) Commit(sha string) (Commit, bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	c := r.state().objects.commits[sha]
	if c == nil {
		return Commit{}, false
	}
	return Commit{
		SHA: sha, Tree: c.Tree, Parents: append([]string(nil), c.Parents...), Message: c.Message,
		AuthorName: c.Author.Name, AuthorEmail: c.Author.Email,
	}, true
}

// Log returns the first-parent history of branch, newest first.
func (r *Repo) Log(branch string) []Commit {
	head, ok := r.Branch(branch)
	if !ok {
		return nil
	}
	var out []Commit
	for id := head; id != ""; {
		c, ok := r.Commit(id)
		if !ok {
			break
		}
		out = append(out, c)
		id = ""
		if len(c.Parents) > 0 {
			id = c.Parents[0]
		}
	}
	return out
}

// PullRequest is a pull request as tests see it.
type PullRequest struct {
	Number int
	Title  string
	Body   string
	Head   string
	Base   string
	State  string
	Draft  bool
}

// PullRequests lists the repository's pull requests, oldest first.
func (r *Repo) PullRequests() []PullRequest {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	var out []PullRequest
	for _, p := range r.state().pulls {
		out = append(out, PullRequest{
			Number: p.number, Title: p.title, Body: p.body, Head: p.head, Base: p.base, State: p.state, Draft: p.draft,
		})
	}
	return out
}

// SetPullRequestState sets a pull request's state ("open" or "closed"),
// as a person closing it in the UI would.
func (r *Repo) SetPullRequestState(number int, state string) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	for _, p := range r.state().pulls {
		if p.number == number {
			p.state = state
		}
	}
}
