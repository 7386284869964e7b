//! enrolment (in progress).
