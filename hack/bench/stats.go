package main

import (
	"math"
	"slices"
	"time"
)

// Latency summarises a set of request durations, in microseconds.
type Latency struct {
	N    int     `json:"n"`
	Min  float64 `json:"min_us"`
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

// Summarize returns the summary of samples; it sorts samples in place.
func Summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	return Latency{
		N:    len(samples),
		Min:  micros(samples[0]),
		P50:  micros(Percentile(samples, 50)),
		P90:  micros(Percentile(samples, 90)),
		P99:  micros(Percentile(samples, 99)),
		Max:  micros(samples[len(samples)-1]),
		Mean: micros(sum / time.Duration(len(samples))),
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest sample such that at least p percent of
// the samples are at or below it. It is always one of the samples, so a
// percentile of few samples is never an interpolation between outliers.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func micros(d time.Duration) float64 {
	return float64(d) / float64(time.Microsecond)
}

// Ratio returns a/b, or NaN when b is not positive: a ratio over a zero or
// negative baseline (an added latency lost in noise) means nothing.
func Ratio(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// Added is the latency a configuration adds over a baseline at the same
// percentiles. It may be negative when the difference is within noise.
type Added struct {
	P50 float64 `json:"p50_us"`
	P90 float64 `json:"p90_us"`
	P99 float64 `json:"p99_us"`
}

// AddedOver returns l minus base, percentile by percentile.
func (l Latency) AddedOver(base Latency) Added {
	return Added{P50: l.P50 - base.P50, P90: l.P90 - base.P90, P99: l.P99 - base.P99}
}

// Spread is the smallest and largest of a set of values, such as one ratio
// computed round by round.
type Spread struct {
	Min Number `json:"min"`
	Max Number `json:"max"`
}

// SpreadOf returns the spread of values, ignoring NaNs.
func SpreadOf(values []float64) Spread {
	lo, hi := math.NaN(), math.NaN()
	for _, v := range values {
		if math.IsNaN(v) {
			continue
		}
		if math.IsNaN(lo) || v < lo {
			lo = v
		}
		if math.IsNaN(hi) || v > hi {
			hi = v
		}
	}
	return Spread{Min: Number(lo), Max: Number(hi)}
}
