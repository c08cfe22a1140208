"""Batch lead files: rendering leads into CSV/XLSX bytes and uploading them to SFTP, FTP(S) or S3."""
