package b3

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Raw is the peer: plain client-go creates of PipelineRuns, Concurrency at
// a time, through one clientset whose client-side limiter is QPS and Burst.
type Raw struct {
	QPS         float32
	Burst       int
	Concurrency int
}

// RESTConfig loads kubeconfig the way cascade does (clientcmd's loading
// rules) and applies r's QPS and Burst.
func (r Raw) RESTConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = r.QPS, r.Burst
	return cfg, nil
}

// Create creates every PipelineRun in namespace ns and returns how many
// were created. It stops at the first error.
func (r Raw) Create(ctx context.Context, cfg *rest.Config, ns string, prs []*pipelinev1.PipelineRun) (int, error) {
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		return 0, fmt.Errorf("configuring the Tekton client: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *pipelinev1.PipelineRun)
	var (
		created  atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		once     sync.Once
	)
	for range max(r.Concurrency, 1) {
		wg.Go(func() {
			for pr := range work {
				pr = pr.DeepCopy()
				pr.Namespace = ns
				if _, err := c.TektonV1().PipelineRuns(ns).Create(ctx, pr, metav1.CreateOptions{}); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("creating PipelineRun %s/%s: %w", ns, pr.Name, err); cancel() })
					continue
				}
				created.Add(1)
			}
		})
	}
feed:
	for _, pr := range prs {
		select {
		case work <- pr:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return int(created.Load()), firstErr
}

// WriteObjects writes prs as a JSON array.
func WriteObjects(path string, prs []*pipelinev1.PipelineRun) error {
	data, err := json.Marshal(prs)
	if err != nil {
		return fmt.Errorf("encoding PipelineRuns: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing PipelineRuns: %w", err)
	}
	return nil
}

// ReadObjects reads a file written by WriteObjects.
func ReadObjects(path string) ([]*pipelinev1.PipelineRun, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading PipelineRuns: %w", err)
	}
	var prs []*pipelinev1.PipelineRun
	if err := json.Unmarshal(data, &prs); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return prs, nil
}

// Template strips what the API server added to a created PipelineRun,
// leaving what a client sends: type, name, labels, annotations and spec.
func Template(pr pipelinev1.PipelineRun) *pipelinev1.PipelineRun {
	return &pipelinev1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name: pr.Name, Labels: pr.Labels, Annotations: pr.Annotations,
		},
		Spec: pr.Spec,
	}
}
