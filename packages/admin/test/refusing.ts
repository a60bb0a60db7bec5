/**
 * A DP schema that refuses any config mentioning `host`: the DP nacks it, and stays on the
 * config it has (it falls behind).
 */
export function refusing(host: string) {
  return {
    safeParse: (input: unknown) =>
      JSON.stringify(input).includes(host)
        ? {
            success: false as const,
            error: {
              issues: [{ code: 'custom' as const, path: ['services'], message: 'not here', input }],
            },
          }
        : { success: true as const, data: input },
  };
}
