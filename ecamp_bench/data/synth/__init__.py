"""The synthetic chest X-ray generator (images, findings, reports) that is the embedded default data set."""
