-- Back to escrow addresses that two invoices may share (the fault 0005 closed).
DROP INDEX invoices_escrow_address_key;
