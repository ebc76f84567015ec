// Command b1floor is B1's "floor" contender (b1.Floor): the parsing and the
// atomic writes that any update of the tree needs under cascade's choices
// and promises, told the answer by the expected tree.
//
//	b1floor --expected EXPECTED TREE
//	b1floor --expected EXPECTED --parse-only TREE   the parsing alone
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/imagecascade/cascade/bench/b1"
)

func main() {
	fs := flag.NewFlagSet("b1floor", flag.ExitOnError)
	expected := fs.String("expected", "", "the tree as it must look after the update")
	parseOnly := fs.Bool("parse-only", false, "parse, write nothing")
	_ = fs.Parse(os.Args[1:])
	if *expected == "" || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: b1floor --expected EXPECTED TREE")
		os.Exit(2)
	}
	if err := b1.Floor(context.Background(), fs.Arg(0), *expected, !*parseOnly); err != nil {
		fmt.Fprintln(os.Stderr, "b1floor:", err)
		os.Exit(1)
	}
}
