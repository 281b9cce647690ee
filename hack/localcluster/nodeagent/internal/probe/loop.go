package probe

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Params are a probe's timing with the API defaults filled in.
type Params struct {
	InitialDelay, Period, Timeout time.Duration
	SuccessThreshold              int
	FailureThreshold              int
}

// ParamsOf applies the API server's defaults to zero values.
func ParamsOf(p *corev1.Probe) Params {
	or := func(v, def int32) int32 {
		if v <= 0 {
			return def
		}
		return v
	}
	return Params{
		InitialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		Period:           time.Duration(or(p.PeriodSeconds, 10)) * time.Second,
		Timeout:          time.Duration(or(p.TimeoutSeconds, 1)) * time.Second,
		SuccessThreshold: int(or(p.SuccessThreshold, 1)),
		FailureThreshold: int(or(p.FailureThreshold, 3)),
	}
}

// CheckFunc performs one probe attempt.
type CheckFunc func(ctx context.Context, timeout time.Duration) (ok bool, msg string)

// Loop probes every period, starting initialDelay after containerStart, and
// calls onResult whenever the thresholded result is first established or
// flips: after SuccessThreshold consecutive successes or FailureThreshold
// consecutive failures. The loop ends with ctx or when onResult returns
// true (e.g. a startup probe that succeeded or a liveness kill).
func Loop(ctx context.Context, p Params, containerStart time.Time, check CheckFunc, onResult func(ok bool, msg string) (stop bool)) {
	if !Sleep(ctx, time.Until(containerStart.Add(p.InitialDelay))) {
		return
	}
	known, current := false, false
	successes, failures := 0, 0
	for {
		ok, msg := check(ctx, p.Timeout)
		if ctx.Err() != nil {
			return
		}
		if ok {
			successes, failures = successes+1, 0
			if successes >= p.SuccessThreshold && (!known || !current) {
				known, current = true, true
				if onResult(true, "") {
					return
				}
			}
		} else {
			successes, failures = 0, failures+1
			if failures >= p.FailureThreshold && (!known || current) {
				known, current = true, false
				if onResult(false, msg) {
					return
				}
			}
		}
		if !Sleep(ctx, p.Period) {
			return
		}
	}
}

// Sleep waits d unless ctx ends first; it reports whether the wait completed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
