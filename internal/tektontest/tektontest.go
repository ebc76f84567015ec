// Package tektontest holds cascade's PipelineRuns to Tekton's own API in
// tests. cascade creates PipelineRuns with its own small wire type
// (dispatch.PipelineRun) instead of linking Tekton's Go types; this package
// converts that type into Tekton's, strictly (a field Tekton does not know
// fails), and adapts Tekton's generated clientset — its fake in unit tests,
// a real one against a test API server — to dispatch.PipelineRuns.
//
// It is for tests only: nothing in the cascade binary imports it
// (TestBinaryLinksNoTektonTypes in cmd/cascade holds that).
package tektontest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagecascade/cascade/internal/dispatch"
)

// ToTekton converts pr into Tekton's PipelineRun through its JSON, refusing
// any field Tekton's type does not have.
func ToTekton(pr *dispatch.PipelineRun) (*pipelinev1.PipelineRun, error) {
	b, err := json.Marshal(pr)
	if err != nil {
		return nil, fmt.Errorf("encoding the PipelineRun: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var out pipelinev1.PipelineRun
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding cascade's PipelineRun as Tekton's: %w\n%s", err, b)
	}
	return &out, nil
}

// PipelineRuns returns c as dispatch.PipelineRuns: each create converts the
// PipelineRun with ToTekton and creates it with c.
func PipelineRuns(c versioned.Interface) dispatch.PipelineRuns { return clientset{c} }

type clientset struct{ c versioned.Interface }

func (c clientset) Create(ctx context.Context, pr *dispatch.PipelineRun) error {
	t, err := ToTekton(pr)
	if err != nil {
		return err
	}
	_, err = c.c.TektonV1().PipelineRuns(t.Namespace).Create(ctx, t, metav1.CreateOptions{})
	return err
}
