"""What tests and the reliability benchmark use, not jobs: fault injection, damaged inputs, fakes, the job-submission check."""
