package kclient_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the module root, two directories up from this package.
const repoRoot = "../.."

// productionSources calls fn with the slash path (from the module root)
// and text of every non-test Go file outside internal/kclient.
func productionSources(t *testing.T, fn func(path, src string)) {
	t.Helper()
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || rel == "internal/kclient" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fn(rel, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// clientConstructors are the calls that create a Kafka client of their own:
// franz-go's, and sarama's (goka's library) with a config of their own.
// Their FromClient variants take a client, which then came from a Factory.
var clientConstructors = []string{
	"kgo.NewClient(",
	"sarama.NewClient(", "sarama.NewConsumer(", "sarama.NewConsumerGroup(",
	"sarama.NewSyncProducer(", "sarama.NewAsyncProducer(", "sarama.NewClusterAdmin(",
}

// clientCalls are the constructors of clientConstructors that src calls.
func clientCalls(src string) []string {
	var calls []string
	for _, c := range clientConstructors {
		if strings.Contains(src, c) {
			calls = append(calls, strings.TrimSuffix(c, "("))
		}
	}
	return calls
}

// TestNoClientOutsideTheFactory: production code and the test kits create
// their Kafka clients through kclient.Factory (security, metrics and
// library logs in one place), never with kgo.NewClient nor with sarama's
// constructors (a sarama client from Factory.SaramaClient, goka's from
// the Factory's goka options).
func TestNoClientOutsideTheFactory(t *testing.T) {
	seen := 0
	productionSources(t, func(path, src string) {
		seen++
		for _, c := range clientCalls(src) {
			t.Errorf("%s calls %s: build the client with a kclient.Factory (Client, Producer, Checked, Admin, SaramaClient, the goka options)", path, c)
		}
	})
	if seen < 100 {
		t.Fatalf("read %d production files: the walk missed the tree", seen)
	}
}

// TestClientCallsFindsEveryConstructor: the check above sees each
// constructor, as a processor's partition read called it before it took
// its client from the Factory.
func TestClientCallsFindsEveryConstructor(t *testing.T) {
	for _, c := range clientConstructors {
		src := "cl, err := " + c + "brokers, kclient.SaramaConfig())"
		if got := clientCalls(src); len(got) != 1 || got[0]+"(" != c {
			t.Errorf("clientCalls(%q) = %v, want [%s]", src, got, strings.TrimSuffix(c, "("))
		}
	}
	if got := clientCalls("sarama.NewConsumerFromClient(cl)"); len(got) != 0 {
		t.Errorf("a consumer of a Factory's client is flagged: %v", got)
	}
}
