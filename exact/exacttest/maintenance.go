package exacttest

import (
	"net/http"
	"time"
)

// Default daily maintenance window, Amsterdam wall-clock time: "avoid 04:00–04:30 CET" (§0,
// §6.11). The sheet's "CET" is read as Dutch local time, so the window follows daylight saving.
const (
	defaultMaintenanceStart = 4 * time.Hour
	defaultMaintenanceEnd   = 4*time.Hour + 30*time.Minute
)

const msgMaintenance = "Exact Online is unavailable because of scheduled maintenance. Please try again later."

// maintenanceWindow returns the window as offsets from Amsterdam midnight; both zero in Options
// means the default 04:00–04:30.
func (o Options) maintenanceWindow() (start, end time.Duration) {
	if o.MaintenanceStart == 0 && o.MaintenanceEnd == 0 {
		return defaultMaintenanceStart, defaultMaintenanceEnd
	}
	return o.MaintenanceStart, o.MaintenanceEnd
}

// inMaintenance reports whether now falls in the daily window. A window whose end is not after
// its start wraps over midnight.
func (o Options) inMaintenance(now time.Time) bool {
	if !o.Maintenance {
		return false
	}
	start, end := o.maintenanceWindow()
	// The wall-clock time of day, so the window stays at 04:00 local on the days clocks change.
	local := now.In(amsterdam)
	t := time.Duration(local.Hour())*time.Hour + time.Duration(local.Minute())*time.Minute +
		time.Duration(local.Second())*time.Second + time.Duration(local.Nanosecond())
	if start < end {
		return t >= start && t < end
	}
	return t >= start || t < end
}

// maintenance answers 503 when the simulated now is in the maintenance window (§4.2: "503,
// maintenance"); false when it did. The 503 body is UNCONFIRMED (§4.2, §8): the simulator sends
// the REST error envelope of §4.1 (JSON or XML by Accept, like every other REST error), with
// no Retry-After and no rate-limit headers, and the call is not counted against the limits.
func (s *Simulator) maintenance(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	down := s.opts.inMaintenance(s.nowLocked())
	if down {
		s.stats.Maintenance++
	}
	s.mu.Unlock()
	if down {
		writeError(w, r, http.StatusServiceUnavailable, msgMaintenance)
	}
	return !down
}
