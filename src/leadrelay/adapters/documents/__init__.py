"""Documents made of stored records: invoices and statements as CSV and PDF."""
