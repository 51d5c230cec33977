drop function if exists vh_append_messages(uuid[], uuid[], text[], uuid[], text[], text[], text[], jsonb[], int[], int[]);
