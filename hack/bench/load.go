package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// loadRun is one fixed-count run at one concurrency against one server.
type loadRun struct {
	latencies []time.Duration
	elapsed   time.Duration
	// serverCPU and clientCPU are the CPU time the server process and this
	// process (the load generator) used during the measured requests.
	serverCPU, clientCPU time.Duration
}

// runLoad sends requests POSTs of body to url over concurrency keep-alive
// TLS connections, each connection sending its next request as soon as the
// previous answer is read. Every connection first sends warmup requests,
// unmeasured, so handshakes and the server's first-request costs are not
// in the results. serverPID is the server's process, whose CPU time is
// recorded.
func runLoad(ctx context.Context, url string, body []byte, tlsConfig *tls.Config, concurrency, requests, warmup, serverPID int) (loadRun, error) {
	transport := &http.Transport{
		TLSClientConfig:     tlsConfig,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		DisableCompression:  true,
		// HTTP/1.1 only, as the API server talks to webhooks.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	post := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d from %s", resp.StatusCode, url)
		}
		return err
	}

	var firstErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }

	// Warm up every connection at once, so each is established.
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for range warmup {
				if err := post(); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return loadRun{}, firstErr
	}

	latencies := make([]time.Duration, requests)
	var next atomic.Int64
	serverStart, err := cpuTime(serverPID)
	if err != nil {
		return loadRun{}, err
	}
	clientStart, err := cpuTime(os.Getpid())
	if err != nil {
		return loadRun{}, err
	}
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(requests) {
					return
				}
				t0 := time.Now()
				if err := post(); err != nil {
					fail(err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return loadRun{}, firstErr
	}
	serverEnd, err := cpuTime(serverPID)
	if err != nil {
		return loadRun{}, err
	}
	clientEnd, err := cpuTime(os.Getpid())
	if err != nil {
		return loadRun{}, err
	}
	return loadRun{latencies: latencies, elapsed: elapsed, serverCPU: serverEnd - serverStart, clientCPU: clientEnd - clientStart}, nil
}

// postOnce POSTs body to url on a new connection and returns the answer.
func postOnce(ctx context.Context, url string, body []byte, tlsConfig *tls.Config) ([]byte, error) {
	transport := &http.Transport{TLSClientConfig: tlsConfig}
	defer transport.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: transport, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %d from %s: %s", resp.StatusCode, url, answer)
	}
	return answer, err
}
