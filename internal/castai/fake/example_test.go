package fake_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/castai/metadata"
)

// The operator's conversation: discover metadata, register, poll, ack, report.
func ExampleNewServer() {
	srv := fake.NewServer(fake.WithCatalog(fake.DefaultCatalog()...))
	defer srv.Close()
	ctx := context.Background()

	c, err := castai.New(srv.URL(), castai.StaticKey(fake.DefaultAPIKey), castai.WithVersion("0.1.0"))
	if err != nil {
		panic(err)
	}
	env := map[string]string{"EKS_ACCOUNT_ID": "123456789012", "EKS_REGION": "eu-west-1", "EKS_CLUSTER_NAME": "demo"}
	md, err := metadata.Discover(ctx, "eks", func(k string) string { return env[k] })
	if err != nil {
		panic(err)
	}
	reg, err := c.RegisterCluster(ctx, md.RegisterRequest(""))
	if err != nil {
		panic(err)
	}

	srv.EnqueueAction(reg.ID, castai.Action{Install: &castai.ChartAction{Component: "castai-agent"}})
	actions, err := c.PollActions(ctx, reg.ID, castai.PollOptions{})
	if err != nil {
		panic(err)
	}
	for _, a := range actions {
		info, err := c.GetComponentByName(ctx, a.ComponentName())
		if err != nil {
			panic(err)
		}
		fmt.Println(a.Kind(), a.ComponentName(), "chart", info.HelmChart, "latest", info.LatestVersion)
		_ = c.RecordActionResult(ctx, reg.ID, castai.ActionResult{
			Name: info.Name, Action: castai.ActionEnable, Version: info.LatestVersion, Status: castai.StatusOK,
			ReleaseName: info.ReleaseName, Message: "installed",
		})
		_ = c.AckAction(ctx, reg.ID, a.ID, nil)
	}
	fmt.Println("acks:", len(srv.Acks(reg.ID)), "results:", len(srv.ActionResults(reg.ID)))

	_, err = c.GetComponentByName(ctx, "evictor")
	fmt.Println("unsupported component found:", !errors.Is(err, castai.ErrNotFound))
	// Output:
	// install castai-agent chart castai-agent latest 0.161.1
	// acks: 1 results: 1
	// unsupported component found: false
}

func BenchmarkGetComponentByNameCached(b *testing.B) {
	srv := fake.NewServer(fake.WithCatalog(fake.DefaultCatalog()...))
	defer srv.Close()
	c, err := castai.New(srv.URL(), castai.StaticKey(fake.DefaultAPIKey))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.GetComponentByName(ctx, "castai-agent"); err != nil {
			b.Fatal(err)
		}
	}
	st := c.Stats()[castai.EndpointGetComponentByName]
	b.ReportMetric(float64(st.Attempts), "requests")
}

func BenchmarkPollAckRoundTrip(b *testing.B) {
	srv := fake.NewServer()
	defer srv.Close()
	c, err := castai.New(srv.URL(), castai.StaticKey(fake.DefaultAPIKey))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	reg, err := c.RegisterCluster(ctx, castai.RegisterClusterRequest{
		AKS: &castai.AKSParams{Region: "westeurope", NodeResourceGroup: "rg", SubscriptionID: "s"}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		srv.EnqueueAction(reg.ID, castai.Action{Uninstall: &castai.ComponentTarget{Component: "spot-handler"}})
		acts, err := c.PollActions(ctx, reg.ID, castai.PollOptions{})
		if err != nil || len(acts) != 1 {
			b.Fatalf("poll: %v, %d", err, len(acts))
		}
		if err := c.AckAction(ctx, reg.ID, acts[0].ID, nil); err != nil {
			b.Fatal(err)
		}
	}
	srv.ResetCalls()
}
