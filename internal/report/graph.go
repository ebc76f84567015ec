package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/imagecascade/cascade/internal/graph"
)

// GraphJSON is the JSON shape of `cascade graph -o json`.
type GraphJSON struct {
	SchemaVersion int         `json:"schemaVersion"`
	Nodes         []GraphNode `json:"nodes"`
	Edges         []GraphEdge `json:"edges"`
}

// GraphNode is one image of the stream.
type GraphNode struct {
	ID       string `json:"id"`
	Image    string `json:"image"`
	External bool   `json:"external"`
	Rebuild  string `json:"rebuild,omitempty"`
	// DeclaredBy is where a configured or discovered image was declared
	// ("config", "tekton:ns/pipeline", "github:owner/repo@sha"); empty
	// for an external base.
	DeclaredBy string `json:"declaredBy,omitempty"`
}

// GraphEdge says that To is built on From.
type GraphEdge struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Ref    string `json:"ref"`
	Source string `json:"source,omitempty"`
}

// Graph writes the whole image stream in format f (mermaid, dot or json).
// rebuild maps configured image names to their rebuild kind.
func Graph(w io.Writer, g *graph.Graph, rebuild map[string]string, f Format) error {
	return GraphDeclared(w, g, rebuild, nil, f)
}

// GraphDeclared is Graph that also shows where each image was declared:
// declared maps image names to a discovered source; an image it does not
// name was declared in the config.
func GraphDeclared(w io.Writer, g *graph.Graph, rebuild, declared map[string]string, f Format) error {
	by := func(n *graph.Node) string {
		switch {
		case n.External:
			return ""
		case declared[n.ID] != "":
			return declared[n.ID]
		}
		return "config"
	}
	// Labels name a discovered source; "config" is the default and not
	// repeated on every node.
	discovered := func(n *graph.Node) string {
		if b := by(n); b != "config" {
			return b
		}
		return ""
	}
	switch f {
	case JSON:
		out := GraphJSON{SchemaVersion: 1, Nodes: []GraphNode{}, Edges: []GraphEdge{}}
		for _, n := range g.Nodes() {
			out.Nodes = append(out.Nodes, GraphNode{ID: n.ID, Image: n.Ref.Original, External: n.External, Rebuild: rebuild[n.ID], DeclaredBy: by(n)})
		}
		for _, e := range g.Edges() {
			out.Edges = append(out.Edges, GraphEdge{From: e.From, To: e.To, Ref: e.BaseRef.Original, Source: e.Source})
		}
		return writeJSON(w, out)
	case Dot:
		fmt.Fprintln(w, "digraph cascade {")
		fmt.Fprintln(w, "  rankdir=LR;")
		fmt.Fprintln(w, "  node [shape=box, style=rounded];")
		for _, n := range g.Nodes() {
			attrs := ""
			if n.External {
				attrs = ", style=\"rounded,dashed\""
			}
			label := n.ID
			if k := rebuild[n.ID]; k != "" {
				label += "\\n(" + k + ")"
			}
			if d := discovered(n); d != "" {
				label += "\\n" + d
			}
			fmt.Fprintf(w, "  %s [label=%s%s];\n", strconv.Quote(n.ID), dotQuote(label), attrs)
		}
		for _, e := range g.Edges() {
			fmt.Fprintf(w, "  %s -> %s;\n", strconv.Quote(e.From), strconv.Quote(e.To))
		}
		fmt.Fprintln(w, "}")
		return nil
	default:
		fmt.Fprintln(w, "flowchart LR")
		ids := map[string]string{}
		for i, n := range g.Nodes() {
			ids[n.ID] = "n" + strconv.Itoa(i)
			label := mermaidText(n.ID)
			if k := rebuild[n.ID]; k != "" {
				label += "<br/>" + k
			}
			if d := discovered(n); d != "" {
				label += "<br/>" + mermaidText(d)
			}
			if n.External {
				fmt.Fprintf(w, "  %s([\"%s\"]):::external\n", ids[n.ID], label)
			} else {
				fmt.Fprintf(w, "  %s[\"%s\"]\n", ids[n.ID], label)
			}
		}
		for _, e := range g.Edges() {
			fmt.Fprintf(w, "  %s --> %s\n", ids[e.From], ids[e.To])
		}
		fmt.Fprintln(w, "  classDef external fill:#f3f4f6,stroke:#6b7280,stroke-dasharray: 4 2")
		return nil
	}
}

// dotQuote quotes a DOT label, keeping the \n line breaks DOT understands.
func dotQuote(s string) string {
	q := strconv.Quote(s)
	// strconv.Quote escaped the backslash of "\n"; DOT wants it single.
	return strings.ReplaceAll(q, `\\n`, `\n`)
}
