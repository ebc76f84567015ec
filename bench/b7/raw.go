package b7

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Raw is the peer: plain client-go patches of the targets, Concurrency at
// a time, through one clientset whose client-side limiter is QPS and Burst.
type Raw struct {
	QPS         float32
	Burst       int
	Concurrency int
	// DryRunFirst sends every patch with dryRun=All first, then every
	// patch for real: the two requests per object cascade makes (its
	// phase 1 dry run, its phase 2 apply).
	DryRunFirst bool
}

// RESTConfig loads kubeconfig the way cascade does and applies r's QPS and
// Burst.
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

// Patch moves every target by a strategic merge patch (what `kubectl set
// image` sends) and returns how many moved. It stops at the first error.
func (r Raw) Patch(ctx context.Context, cfg *rest.Config, ts []Target) (int, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, fmt.Errorf("configuring the client: %w", err)
	}
	if r.DryRunFirst {
		if _, err := r.patchAll(ctx, c, ts, []string{metav1.DryRunAll}); err != nil {
			return 0, err
		}
	}
	return r.patchAll(ctx, c, ts, nil)
}

func (r Raw) patchAll(ctx context.Context, c kubernetes.Interface, ts []Target, dryRun []string) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan Target)
	var (
		moved    atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		once     sync.Once
	)
	for range max(r.Concurrency, 1) {
		wg.Go(func() {
			for t := range work {
				_, err := c.AppsV1().Deployments(t.Namespace).Patch(ctx, t.Name, types.StrategicMergePatchType,
					SetImagePatch(t.Container, t.Image), metav1.PatchOptions{FieldManager: "b7-raw", DryRun: dryRun})
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("patching %s/%s: %w", t.Namespace, t.Name, err); cancel() })
					continue
				}
				moved.Add(1)
			}
		})
	}
feed:
	for _, t := range ts {
		select {
		case work <- t:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return int(moved.Load()), firstErr
}
