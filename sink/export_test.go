package sink

// DivisionLockKey exposes divisionLockKey to the tests.
var DivisionLockKey = divisionLockKey
